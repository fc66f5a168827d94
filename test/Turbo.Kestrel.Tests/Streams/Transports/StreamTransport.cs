using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams.Transports;

/// <summary>Where a stream behaviour test runs: its connections come from here.</summary>
public abstract class StreamTransport
{
    /// <summary>In-memory pipes: the test is the transport and decides exactly which bytes arrive in which read.</summary>
    public static StreamTransport InMemory { get; } = new InMemoryTransport();

    /// <summary>A real Kestrel server on 127.0.0.1 and a plain socket client.</summary>
    public static StreamTransport Tcp { get; } = new SocketTransport(tls: false);

    /// <summary>The same with TLS: Kestrel's TLS middleware in front of the stream, an SslStream client.</summary>
    public static StreamTransport Tls { get; } = new SocketTransport(tls: true);

    /// <summary>A new connection whose stream has <paramref name="maxBufferSize"/>.</summary>
    internal abstract Task<ITestPeer> ConnectAsync(long maxBufferSize);

    private sealed class InMemoryTransport : StreamTransport
    {
        internal override Task<ITestPeer> ConnectAsync(long maxBufferSize) => Task.FromResult<ITestPeer>(new PipeConnection(maxBufferSize));
    }

    private sealed class SocketTransport(bool tls) : StreamTransport
    {
        internal override async Task<ITestPeer> ConnectAsync(long maxBufferSize) => await SocketPeer.ConnectAsync(maxBufferSize, tls);
    }
}
