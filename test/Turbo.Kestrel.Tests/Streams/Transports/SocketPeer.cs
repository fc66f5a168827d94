using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams.Transports;

/// <summary>
/// A stream on a real connection: a Turbo server on 127.0.0.1 (TLS when asked) whose handler hands its stream to the
/// test and holds the connection open until the peer is disposed; the test is the client socket.
/// </summary>
internal sealed class SocketPeer : ITestPeer
{
    private static readonly Lazy<TestCertificates> Certificates = new(() =>
    {
        var certificates = new TestCertificates();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => certificates.Dispose();
        return certificates;
    });

    private readonly TestServer _server;
    private readonly Socket _socket;
    private readonly Stream _client;
    private readonly TaskCompletionSource _release;
    private readonly MemoryStream _received = new();
    private readonly byte[] _buffer = new byte[64 * 1024];

    private SocketPeer(TestServer server, Socket socket, Stream client, TaskCompletionSource release, IOStream stream)
    {
        _server = server;
        _socket = socket;
        _client = client;
        _release = release;
        Stream = stream;
    }

    public IOStream Stream { get; }

    public static async Task<SocketPeer> ConnectAsync(long maxBufferSize, bool tls)
    {
        var accepted = new TaskCompletionSource<IOStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = TestServer.Start(
            async (stream, _) =>
            {
                accepted.TrySetResult(stream);
                await release.Task;
            },
            maxBufferSize,
            tls ? Certificates.Value.Options() : null);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.EndPoint).WaitAsync(Timeouts.Default);
        Stream client = new NetworkStream(socket, ownsSocket: false);
        if (tls)
        {
            var ssl = new SslStream(client, leaveInnerStreamOpen: false);
            using var timeout = new CancellationTokenSource(Timeouts.Default);
            await ssl.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Subject == "CN=localhost",
                },
                timeout.Token);
            client = ssl;
        }

        return new SocketPeer(server, socket, client, release, await accepted.Task.Within());
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _client.WriteAsync(bytes).AsTask().Within();
        await _client.FlushAsync().Within();
    }

    public async Task SendFinAsync()
    {
        if (_client is SslStream ssl)
        {
            await ssl.ShutdownAsync().Within();
        }

        _socket.Shutdown(SocketShutdown.Send);
    }

    public async Task<string> PeekServerOutputAsync(int length)
    {
        while (_received.Length < length && await ReceiveAsync() > 0)
        {
        }

        return Encoding.Latin1.GetString(_received.GetBuffer(), 0, (int)_received.Length);
    }

    public async Task<string> ReadServerOutputToEndAsync()
    {
        while (await ReceiveAsync() > 0)
        {
        }

        var text = Encoding.Latin1.GetString(_received.GetBuffer(), 0, (int)_received.Length);
        _received.SetLength(0);
        return text;
    }

    public async ValueTask DisposeAsync()
    {
        _release.TrySetResult();
        await _client.DisposeAsync();
        _socket.Dispose();
        await _server.DisposeAsync();
        await _received.DisposeAsync();
    }

    private async Task<int> ReceiveAsync()
    {
        var read = await _client.ReadAsync(_buffer).AsTask().Within();
        _received.Write(_buffer, 0, read);
        return read;
    }
}
