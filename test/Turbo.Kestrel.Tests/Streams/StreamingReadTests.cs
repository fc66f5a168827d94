using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>Streaming reads: the chunk is the callback's only argument, and the chunks add up to the data.</summary>
public class StreamingReadTests
{
    [Fact]
    public async Task ReadBytesStreaming_ChunksSumToCountAndLeaveTheRest()
    {
        var connection = new PipeConnection();
        var received = new MemoryStream();
        var chunks = 0;
        var read = connection.Stream.ReadBytesAsync(20, chunk =>
        {
            chunks++;
            received.Write(chunk.Span);
            return ValueTask.CompletedTask;
        }).AsTask();

        await connection.SendAsync("01234567");
        await connection.SendAsync("89abcdef");
        await connection.SendAsync("ghijKLMN");
        await read.Within();

        Assert.Equal("0123456789abcdefghij", Encoding.ASCII.GetString(received.ToArray()));
        Assert.True(chunks >= 1);
        Assert.Equal("KLMN", Encoding.ASCII.GetString(await connection.Stream.ReadBytesAsync(4).Within()));
    }

    [Fact]
    public async Task ReadBytesStreaming_WaitsForEachCallbackBeforeTheNextChunk()
    {
        var connection = new PipeConnection();
        var inCallback = 0;
        var overlapped = false;
        var read = connection.Stream.ReadBytesAsync(6, async chunk =>
        {
            overlapped |= Interlocked.Increment(ref inCallback) > 1;
            await Task.Yield();
            Interlocked.Decrement(ref inCallback);
        }).AsTask();

        await connection.SendAsync("ab");
        await connection.SendAsync("cd");
        await connection.SendAsync("ef");
        await read.Within();

        Assert.False(overlapped);
    }

    [Fact]
    public async Task ReadBytesStreaming_PeerFinBeforeCount_Throws()
    {
        var connection = new PipeConnection();
        var seen = 0;
        var read = connection.Stream.ReadBytesAsync(10, chunk =>
        {
            seen += chunk.Length;
            return ValueTask.CompletedTask;
        }).AsTask();

        await connection.SendAsync("abc");
        connection.SendFin();

        await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.Equal(3, seen);
    }

    [Fact]
    public async Task ReadUntilCloseStreaming_DeliversEverythingUntilFin()
    {
        var connection = new PipeConnection(maxBufferSize: 4);
        var received = new MemoryStream();
        var read = connection.Stream.ReadUntilCloseAsync(chunk =>
        {
            received.Write(chunk.Span);
            return ValueTask.CompletedTask;
        }).AsTask();

        await connection.SendAsync("more than ");
        await connection.SendAsync("MaxBufferSize bytes");
        Assert.False(read.IsCompleted);
        connection.SendFin();
        await read.Within();

        Assert.Equal("more than MaxBufferSize bytes", Encoding.ASCII.GetString(received.ToArray()));
    }

    [Fact]
    public async Task ReadUntilCloseStreaming_CallbackExceptionReachesTheCaller()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilCloseAsync(_ => throw new InvalidDataException("bad chunk")).AsTask();

        await connection.SendAsync("x");

        await Assert.ThrowsAsync<InvalidDataException>(() => read.Within());
        Assert.False(connection.Stream.IsReading);
    }

    [Fact]
    public async Task ReadBytesStreaming_Zero_CompletesWithoutCallback()
    {
        var connection = new PipeConnection();
        var called = false;

        await connection.Stream.ReadBytesAsync(0, _ =>
        {
            called = true;
            return ValueTask.CompletedTask;
        }).Within();

        Assert.False(called);
    }

    [Fact]
    public void Tls_IsNullOnPlainTcp()
    {
        var connection = new PipeConnection();

        Assert.Null(connection.Stream.Tls);
    }

    [Fact]
    public void Tls_ReportsTheNegotiatedProtocolAndHostName()
    {
        var connection = new PipeConnection(tls: new FakeTlsHandshake());

        var tls = Assert.IsType<SslInfo>(connection.Stream.Tls);

        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, tls.Protocol);
        Assert.Equal("turbo.test", tls.HostName);
        Assert.Null(tls.ClientCertificate);
    }

    private sealed class FakeTlsHandshake : ITlsHandshakeFeature
    {
        public System.Security.Authentication.SslProtocols Protocol => System.Security.Authentication.SslProtocols.Tls13;

        public string HostName => "turbo.test";

#pragma warning disable CS0618, SYSLIB0058 // The obsolete cipher members are part of the interface.
        public System.Security.Authentication.CipherAlgorithmType CipherAlgorithm => default;

        public int CipherStrength => 0;

        public System.Security.Authentication.HashAlgorithmType HashAlgorithm => default;

        public int HashStrength => 0;

        public System.Security.Authentication.ExchangeAlgorithmType KeyExchangeAlgorithm => default;

        public int KeyExchangeStrength => 0;
#pragma warning restore CS0618, SYSLIB0058
    }
}
