using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// Stream cases that need the test to play the transport: a peer that stops reading, a transport that fails, the
/// connection's TLS feature, the end of the handler. In memory only; the behaviour suites run the rest over TCP and TLS.
/// </summary>
public class TransportControlTests
{
    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();

    [Fact]
    public async Task Abort_WithWritesPending_FailsThemAndClearsIsWriting()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var first = connection.Stream.WriteAsync(new byte[1024 * 1024]).AsTask();
        var second = connection.Stream.WriteAsync(new byte[10]).AsTask();
        Assert.True(connection.Stream.IsWriting);

        connection.Stream.Abort();

        await Assert.ThrowsAsync<StreamClosedException>(() => first.Within());
        await Assert.ThrowsAsync<StreamClosedException>(() => second.Within());
        Assert.False(connection.Stream.IsWriting);
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task Write_TransportFailingWithAnyException_FailsPendingWritesAndLetsCloseFinish()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var first = connection.Stream.WriteAsync(new byte[1024 * 1024]).AsTask();
        var second = connection.Stream.WriteAsync(new byte[10]).AsTask();

        connection.FailServerOutput(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("transport gone"));

        await Assert.ThrowsAsync<StreamClosedException>(() => first.Within());
        await Assert.ThrowsAsync<StreamClosedException>(() => second.Within());
        await connection.Stream.CloseCoreAsync().Within();
        Assert.False(connection.Stream.IsWriting);
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task Read_AfterTheHandlerFinished_ThrowsStreamClosed()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("a\nleft over");
        Assert.Equal("a\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));

        await connection.Stream.FinishAsync().Within();

        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadBytesAsync(4).Within());
    }

    [Fact]
    public async Task Write_CancelledWhileWaiting_StillSendsItsBytesInOrder()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var big = connection.Stream.WriteAsync(new byte[256 * 1024]).AsTask();
        using var cancel = new CancellationTokenSource();
        var small = connection.Stream.WriteAsync("tail", cancel.Token).AsTask();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => small.Within());
        connection.Stream.Close();
        var output = await connection.ReadServerOutputToEndAsync();
        await big.Within();
        Assert.Equal(256 * 1024 + 4, output.Length);
        Assert.EndsWith("tail", output, StringComparison.Ordinal);
    }
    [Fact]
    public async Task PipelinedLines_AreReadOneByOneIntoTheBuffer_WithoutAllocating()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        var buffer = new byte[64];
        await connection.SendAsync(string.Concat(Enumerable.Range(0, 1000).Select(i => $"line {i:0000}\n")));

        // Warm the path once, then measure: lines served from the buffer complete at once, on this thread, and allocate nothing.
        Assert.Equal(10, await stream.ReadUntilAsync(NewLine, buffer));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var total = 0;
        for (var i = 1; i < 1000; i++)
        {
            total += await stream.ReadUntilAsync(NewLine, buffer);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(999 * 10, total);
        Assert.Equal("line 0999\n", Encoding.ASCII.GetString(buffer, 0, 10));
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

    private static string Text(byte[] bytes) => Encoding.Latin1.GetString(bytes);

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
