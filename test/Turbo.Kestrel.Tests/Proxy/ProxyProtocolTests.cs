using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Proxy;

/// <summary>PROXY protocol on real connections: the test client plays the load balancer.</summary>
public sealed class ProxyProtocolTests : IDisposable
{
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Theory]
    [InlineData(ProxyProtocolMode.V1)]
    [InlineData(ProxyProtocolMode.V2)]
    [InlineData(ProxyProtocolMode.Any)]
    public async Task Header_FromATrustedProxy_GivesTheHandlerTheOriginalClient(ProxyProtocolMode mode)
    {
        var seen = new TaskCompletionSource<(string Address, EndPoint? Remote, EndPoint? Proxy)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = Start(mode, async (stream, address) =>
        {
            seen.TrySetResult((address, stream.RemoteEndPoint, stream.ProxyEndPoint));
            await Handlers.EchoLinesAsync(stream, address);
        });
        await using var client = await server.ConnectAsync();

        var header = mode == ProxyProtocolMode.V1 ? V1("203.0.113.7", 51000) : V2("203.0.113.7", 51000);
        await client.SendAsync([.. header, .. "after the header\n"u8]);

        Assert.Equal("after the header\n", await client.ReadLineAsync().Within());
        var (address, remote, proxy) = await seen.Task.Within();
        Assert.Equal("203.0.113.7", address);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 51000), remote);
        Assert.Equal(IPAddress.Loopback, Assert.IsType<IPEndPoint>(proxy).Address);
    }

    [Theory]
    [InlineData(ProxyProtocolMode.V1)]
    [InlineData(ProxyProtocolMode.V2)]
    public async Task Header_DrippedOneByteAtATime_IsReassembled_AndThePayloadAfterItArrivesByteExact(ProxyProtocolMode version)
    {
        // The payload looks like headers of both versions: after the real header it is data, passed on untouched.
        byte[] payload = [.. V2("192.0.2.99", 1), .. V1("192.0.2.98", 2), .. RandomNumberGenerator.GetBytes(4096)];
        var seen = new TaskCompletionSource<(string Address, EndPoint? Remote)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = Start(ProxyProtocolMode.Any, async (stream, address) =>
        {
            seen.TrySetResult((address, stream.RemoteEndPoint));
            await stream.WriteAsync(await stream.ReadBytesAsync(payload.Length));
        }, timeout: Timeouts.Default);
        await using var client = await server.ConnectAsync();

        // One send, so one TCP segment (Nagle is off), per byte; the server may still read a few at once.
        var header = version == ProxyProtocolMode.V1 ? V1("203.0.113.7", 51000) : V2("203.0.113.7", 51000);
        foreach (var b in header)
        {
            Assert.False(seen.Task.IsCompleted, "the handler ran before the header was complete");
            await client.SendAsync([b]);
        }

        await client.SendAsync(payload);

        Assert.Equal(payload, await client.ReadExactlyAsync(payload.Length).Within());
        var (address, remote) = await seen.Task.Within();
        Assert.Equal("203.0.113.7", address);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 51000), remote);
    }

    [Fact]
    public async Task V1Tcp6Header_GivesTheHandlerTheIPv6ClientAndDestination()
    {
        var seen = new TaskCompletionSource<(string Address, EndPoint? Remote, EndPoint? Local, EndPoint? Proxy)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = Start(ProxyProtocolMode.V1, async (stream, address) =>
        {
            seen.TrySetResult((address, stream.RemoteEndPoint, stream.LocalEndPoint, stream.ProxyEndPoint));
            await Handlers.EchoLinesAsync(stream, address);
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync([.. "PROXY TCP6 2001:db8::7 2001:db8::1 51000 7000\r\n"u8, .. "over six\n"u8]);

        Assert.Equal("over six\n", await client.ReadLineAsync().Within());
        var (address, remote, local, proxy) = await seen.Task.Within();
        Assert.Equal("2001:db8::7", address);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 51000), remote);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 7000), local);
        Assert.Equal(IPAddress.Loopback, Assert.IsType<IPEndPoint>(proxy).Address);
    }

    [Fact]
    public async Task V1Unknown_KeepsTheConnectionsOwnAddress_AndDeliversWhatFollows()
    {
        var seen = new TaskCompletionSource<(string Address, EndPoint? Remote, EndPoint? Proxy)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = Start(ProxyProtocolMode.V1, async (stream, address) =>
        {
            seen.TrySetResult((address, stream.RemoteEndPoint, stream.ProxyEndPoint));
            await Handlers.EchoLinesAsync(stream, address);
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync([.. "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"u8, .. "unknown origin\n"u8]);

        Assert.Equal("unknown origin\n", await client.ReadLineAsync().Within());
        var (address, remote, proxy) = await seen.Task.Within();
        Assert.Equal("127.0.0.1", address);
        Assert.Equal(client.Socket.LocalEndPoint, remote);
        Assert.Null(proxy);
    }

    [Fact]
    public async Task V2Local_WithAddressBytes_SkipsThemAndDeliversThePayloadExactly()
    {
        byte[] payload = [.. "after local\n"u8, .. RandomNumberGenerator.GetBytes(1000)];
        var seen = new TaskCompletionSource<(string Address, EndPoint? Proxy)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = Start(ProxyProtocolMode.V2, async (stream, address) =>
        {
            seen.TrySetResult((address, stream.ProxyEndPoint));
            await stream.WriteAsync(await stream.ReadBytesAsync(payload.Length));
        });
        await using var client = await server.ConnectAsync();

        // LOCAL (a health check) with len = 12: the 12 bytes are the header's, ignored; the payload starts after them.
        byte[] block = [.. "ignored\nbyte"u8];
        await client.SendAsync([.. Signature, 0x20, 0x11, 0x00, (byte)block.Length, .. block, .. payload]);

        Assert.Equal(payload, await client.ReadExactlyAsync(payload.Length).Within());
        var (address, proxy) = await seen.Task.Within();
        Assert.Equal("127.0.0.1", address);
        Assert.Null(proxy);
    }

    [Fact]
    public async Task V2Local_HealthCheck_KeepsTheConnectionsOwnAddress()
    {
        var seen = new TaskCompletionSource<(string Address, EndPoint? Proxy)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = Start(ProxyProtocolMode.V2, (stream, address) =>
        {
            seen.TrySetResult((address, stream.ProxyEndPoint));
            return Task.CompletedTask;
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync([.. Signature, 0x20, 0x00, 0x00, 0x00]);

        var (address, proxy) = await seen.Task.Within();
        Assert.Equal("127.0.0.1", address);
        Assert.Null(proxy);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 10.0.0.1 0512 80\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\n")]
    public async Task MalformedHeader_ClosesTheConnectionBeforeTheHandler_OthersUnaffected(string header)
    {
        var handled = 0;
        await using var server = Start(ProxyProtocolMode.Any, async (stream, address) =>
        {
            Interlocked.Increment(ref handled);
            await Handlers.EchoLinesAsync(stream, address);
        });
        await using var good = await server.ConnectAsync();
        await good.SendAsync([.. V1("198.51.100.1", 1), .. "good\n"u8]);
        Assert.Equal("good\n", await good.ReadLineAsync().Within());

        await using (var bad = await server.ConnectAsync())
        {
            await bad.SendAsync(header);
            var (data, _) = await bad.ReadToEndAsync().Within();
            Assert.Empty(data);
        }

        await server.Logs.WaitForAsync(e => e.EventId.Name == "ProxyRejected");
        Assert.Equal(1, Volatile.Read(ref handled));
        await good.SendAsync("still good\n");
        Assert.Equal("still good\n", await good.ReadLineAsync().Within());
    }

    [Fact]
    public async Task UntrustedPeer_IsClosedEvenWithAValidHeader()
    {
        await using var server = Start(ProxyProtocolMode.V1, Handlers.EchoLinesAsync, trusted: "10.0.0.0/8");

        // The server closes at accept: the reset may reach the client during connect, send or read.
        var error = await Record.ExceptionAsync(async () =>
        {
            await using var client = await server.ConnectAsync();
            await Record.ExceptionAsync(() => client.SendAsync([.. V1("203.0.113.7", 1), .. "hi\n"u8]));
            var (data, _) = await client.ReadToEndAsync().Within();
            Assert.Empty(data);
        });

        Assert.True(error is null or SocketException { SocketErrorCode: SocketError.ConnectionReset }, error?.ToString());
        await server.Logs.WaitForAsync(e => e.EventId.Name == "ProxyUntrusted");
    }

    [Fact]
    public async Task TruncatedHeader_IsClosedAtTheHeaderTimeout()
    {
        await using var server = Start(ProxyProtocolMode.V2, Handlers.EchoLinesAsync, timeout: TimeSpan.FromMilliseconds(300));
        await using var client = await server.ConnectAsync();

        await client.SendAsync(V2("203.0.113.7", 1)[..20]);

        var (data, _) = await client.ReadToEndAsync().Within();
        Assert.Empty(data);
        var rejected = await server.Logs.WaitForAsync(e => e.EventId.Name == "ProxyRejected");
        Assert.Contains("within", rejected.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ModeOff_AProxyHeaderIsNeverGuessed_ItReachesTheHandlerAsData()
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, address) =>
        {
            seen.TrySetResult(address);
            await Handlers.EchoLinesAsync(stream, address);
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync("PROXY TCP4 203.0.113.9 10.0.0.1 1234 7000\r\n");

        Assert.Equal("PROXY TCP4 203.0.113.9 10.0.0.1 1234 7000\r\n", await client.ReadLineAsync().Within());
        Assert.Equal("127.0.0.1", await seen.Task.Within());
    }

    [Fact]
    public async Task TruncatedHeaderThenFin_IsRejectedBeforeTheHandler()
    {
        var handled = false;
        await using var server = Start(ProxyProtocolMode.Any, (_, _) =>
        {
            handled = true;
            return Task.CompletedTask;
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync("PROXY TCP4 203.0.113.9 10.0");
        client.ShutdownSend();

        var (data, _) = await client.ReadToEndAsync().Within();
        Assert.Empty(data);
        Assert.Contains("ended inside", (await server.Logs.WaitForAsync(e => e.EventId.Name == "ProxyRejected")).Message, StringComparison.Ordinal);
        Assert.False(handled);
    }

    [Fact]
    public async Task HeaderThenTls_Works()
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var test = TestServer.Create(async (stream, address) =>
        {
            seen.TrySetResult(address);
            await Handlers.EchoLinesAsync(stream, address);
        }, ssl: _certificates.Options());
        await using var _ = test;
        Configure(test.Server, ProxyProtocolMode.V2, "127.0.0.0/8", TimeSpan.FromSeconds(3));
        test.Server.Listen(0, "127.0.0.1");
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(test.EndPoint).WaitAsync(Timeouts.Default);
        await tcp.GetStream().WriteAsync(V2("192.0.2.5", 7));
        await using var ssl = new SslStream(tcp.GetStream());
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Subject == "CN=localhost",
        }).WaitAsync(Timeouts.Default);

        await ssl.WriteAsync("over tls\n"u8.ToArray());
        using var reader = new StreamReader(ssl, Encoding.UTF8, leaveOpen: true);

        Assert.Equal("over tls", await reader.ReadLineAsync().Within());
        Assert.Equal("192.0.2.5", await seen.Task.Within());
    }

    [Fact]
    public async Task ModeWithoutTrustedProxies_IsRefusedWhenListening()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        test.Server.ProxyProtocol.Mode = ProxyProtocolMode.V2;

        var error = Assert.Throws<InvalidOperationException>(() => test.Server.Listen(0, "127.0.0.1"));

        Assert.Contains("TrustedProxies", error.Message, StringComparison.Ordinal);
    }

    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static byte[] V1(string source, int port) => Encoding.ASCII.GetBytes($"PROXY TCP4 {source} 10.0.0.1 {port} 7000\r\n");

    private static byte[] V2(string source, int port)
    {
        var block = new byte[12];
        IPAddress.Parse(source).GetAddressBytes().CopyTo(block, 0);
        IPAddress.Parse("10.0.0.1").GetAddressBytes().CopyTo(block, 4);
        block[8] = (byte)(port >> 8);
        block[9] = (byte)port;
        block[10] = 0x1B;
        block[11] = 0x58;
        return [.. Signature, 0x21, 0x11, 0x00, 12, .. block];
    }

    private static TestServer Start(ProxyProtocolMode mode, Func<IOStream, string, Task> handler, string trusted = "127.0.0.0/8", TimeSpan? timeout = null)
    {
        var test = TestServer.Create(handler);
        Configure(test.Server, mode, trusted, timeout ?? TimeSpan.FromSeconds(3));
        test.Server.Listen(0, "127.0.0.1");
        return test;
    }

    private static void Configure(TcpServer server, ProxyProtocolMode mode, string trusted, TimeSpan timeout)
    {
        server.ProxyProtocol.Mode = mode;
        server.ProxyProtocol.TrustedProxies.Add(IPNetwork.Parse(trusted));
        server.ProxyProtocol.HeaderTimeout = timeout;
    }
}
