using System.Net;
using System.Net.Sockets;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>Bind + Start, AddSocket(s) and SockUtil.BindSockets (Turbo's bind/start/add_sockets/bind_sockets).</summary>
public class BindStartTests
{
    [Fact]
    public async Task Bind_QueuesClientsInTheKernelAndStartAcceptsThem()
    {
        var started = false;
        var sawStarted = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var test = TestServer.Create(async (stream, address) =>
        {
            sawStarted.TrySetResult(Volatile.Read(ref started));
            await Handlers.EchoLinesAsync(stream, address);
        });

        test.Server.Bind(0, "127.0.0.1");
        var endPoint = Assert.IsType<IPEndPoint>(Assert.Single(test.Server.LocalEndPoints));
        await using var early = await TestClient.ConnectAsync(endPoint);
        await early.SendAsync("queued before Start\n");
        Volatile.Write(ref started, true);
        test.Server.Start();

        Assert.Equal("queued before Start\n", await early.ReadLineAsync().Within());
        Assert.True(await sawStarted.Task.Within());
    }

    [Fact]
    public async Task Start_Twice_Throws_AlsoAfterStop()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        test.Server.Start();

        Assert.Throws<InvalidOperationException>(test.Server.Start);
        test.Server.Stop();
        Assert.Throws<InvalidOperationException>(test.Server.Start);
    }

    [Fact]
    public async Task Bind_AfterStart_AcceptsAtOnce()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        test.Server.Start();

        test.Server.Bind(0, IPAddress.Loopback);

        await using var client = await TestClient.ConnectAsync(test.Server.LocalEndPoints[0]);
        await client.SendAsync("bound after start\n");
        Assert.Equal("bound after start\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Bind_PortInUse_ThrowsThereNamingTheEndPoint()
    {
        await using var first = TestServer.Start(Handlers.EchoLinesAsync);
        await using var second = TestServer.Create(Handlers.EchoLinesAsync);

        var error = Assert.Throws<IOException>(() => second.Server.Bind(first.Port, "127.0.0.1"));

        Assert.Contains($"127.0.0.1:{first.Port}", error.Message, StringComparison.Ordinal);
        Assert.Empty(second.Server.LocalEndPoints);
    }

    [Fact]
    public async Task Stop_ClosesSocketsBoundButNotStarted()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        test.Server.Bind(0, "127.0.0.1");
        var endPoint = test.Server.LocalEndPoints[0];

        test.Server.Stop();

        Assert.Empty(test.Server.LocalEndPoints);
        var refused = await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(endPoint));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task AddSockets_FromBindSockets_ServesAndOwnsThem()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var sockets = SockUtil.BindSockets(0, "127.0.0.1");
        Assert.False(Assert.Single(sockets).Blocking);

        test.Server.AddSockets(sockets);

        var endPoint = Assert.Single(test.Server.LocalEndPoints);
        await using (var client = await TestClient.ConnectAsync(endPoint))
        {
            await client.SendAsync("added\n");
            Assert.Equal("added\n", await client.ReadLineAsync().Within());
        }

        test.Server.Stop();
        Assert.Throws<ObjectDisposedException>(() => sockets[0].LocalEndPoint);
        await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(endPoint));
    }

    [Fact]
    public async Task AddSocket_AlreadyUsedOrNotListening_IsRefusedWithAClearError()
    {
        await using var first = TestServer.Create(Handlers.EchoLinesAsync);
        await using var second = TestServer.Create(Handlers.EchoLinesAsync);
        var socket = SockUtil.BindSockets(0, "127.0.0.1")[0];
        first.Server.AddSocket(socket);
        using var unbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        var twice = Assert.Throws<ArgumentException>(() => second.Server.AddSocket(socket));
        var idle = Assert.Throws<ArgumentException>(() => second.Server.AddSocket(unbound));

        Assert.Contains("already used", twice.Message, StringComparison.Ordinal);
        Assert.Contains("not bound and listening", idle.Message, StringComparison.Ordinal);
        Assert.Empty(second.Server.LocalEndPoints);
        await using var client = await TestClient.ConnectAsync(first.Server.LocalEndPoints[0]);
        await client.SendAsync("first keeps it\n");
        Assert.Equal("first keeps it\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task AddSockets_ARefusedListClaimsNothing()
    {
        await using var first = TestServer.Create(Handlers.EchoLinesAsync);
        await using var second = TestServer.Create(Handlers.EchoLinesAsync);
        var socket = SockUtil.BindSockets(0, "127.0.0.1")[0];

        Assert.Throws<ArgumentException>(() => first.Server.AddSockets([socket, socket]));
        second.Server.AddSocket(socket);

        await using var client = await TestClient.ConnectAsync(second.Server.LocalEndPoints[0]);
        await client.SendAsync("second got it\n");
        Assert.Equal("second got it\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task AddSockets_WithBacklog_ListensWithIt_AndForeignSocketsDefaultTo128()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var tuned = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tuned.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        tuned.Listen(7);
        var plain = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        plain.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        plain.Listen(7);

        test.Server.AddSockets([tuned], backlog: 1000);
        test.Server.AddSocket(plain);

        Assert.Equal(1000, KernelSockets.ListenBacklog(((IPEndPoint)tuned.LocalEndPoint!).Port));
        Assert.Equal(128, KernelSockets.ListenBacklog(((IPEndPoint)plain.LocalEndPoint!).Port));
    }

    [Fact]
    public async Task StartAndStopRacing_NeverLeaveASocketListening()
    {
        for (var round = 0; round < 20; round++)
        {
            await using var test = TestServer.Create(Handlers.EchoLinesAsync);
            test.Server.Bind(0, "127.0.0.1");
            using var barrier = new Barrier(2);
            var start = Task.Run(() =>
            {
                barrier.SignalAndWait();
                test.Server.Start();
            });
            var stop = Task.Run(() =>
            {
                barrier.SignalAndWait();
                test.Server.Stop();
            });

            await Task.WhenAll(start, stop).Within();

            Assert.Empty(test.Server.LocalEndPoints);
        }
    }

    [Fact]
    public async Task BindSockets_ReusePort_LetsTwoServersShareAPortAndBothServe()
    {
        var served = new int[2];
        await using var a = TestServer.Create((stream, _) => Count(stream, served, 0));
        await using var b = TestServer.Create((stream, _) => Count(stream, served, 1));
        var first = SockUtil.BindSockets(0, "127.0.0.1", reusePort: true);
        var port = ((IPEndPoint)first[0].LocalEndPoint!).Port;
        var second = SockUtil.BindSockets(port, "127.0.0.1", reusePort: true);
        a.Server.AddSockets(first);
        b.Server.AddSockets(second);

        for (var i = 0; i < 64 && (Volatile.Read(ref served[0]) == 0 || Volatile.Read(ref served[1]) == 0); i++)
        {
            await using var client = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await client.SendAsync("which?\n");
            Assert.Equal("served\n", await client.ReadLineAsync().Within());
        }

        Assert.True(served[0] > 0 && served[1] > 0, $"served {served[0]} and {served[1]}");
    }

    [Fact]
    public void BindSockets_WithoutAddress_IsOneDualStackSocket()
    {
        var sockets = SockUtil.BindSockets(0);
        try
        {
            var socket = Assert.Single(sockets);
            Assert.Equal(IPAddress.IPv6Any, ((IPEndPoint)socket.LocalEndPoint!).Address);
            Assert.True(socket.DualMode);
            Assert.Equal(1, RawOption(socket, 2 /* SO_REUSEADDR */));
            Assert.Equal(0, RawOption(socket, 15 /* SO_REUSEPORT: only when asked */));
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task BindSockets_PortInUse_ThrowsWithoutReusePort()
    {
        await using var first = TestServer.Start(Handlers.EchoLinesAsync);

        var error = Assert.Throws<IOException>(() => SockUtil.BindSockets(first.Port, "127.0.0.1"));

        Assert.Contains($"127.0.0.1:{first.Port}", error.Message, StringComparison.Ordinal);
    }

    private static int RawOption(Socket socket, int name)
    {
        var value = new byte[4];
        socket.GetRawSocketOption(1 /* SOL_SOCKET */, name, value);
        return BitConverter.ToInt32(value);
    }

    private static async Task Count(IOStream stream, int[] served, int index)
    {
        await stream.ReadUntilAsync("\n");
        Interlocked.Increment(ref served[index]);
        await stream.WriteAsync("served\n");
    }
}
