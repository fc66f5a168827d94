using System.Net;
using System.Net.Sockets;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>Listen overloads, addresses and bind errors.</summary>
public class ListenTests
{
    [Fact]
    public async Task Listen_PortInUse_ThrowsNamingTheEndPointAndLeavesNothingBound()
    {
        await using var first = TestServer.Start(Handlers.EchoLinesAsync);
        await using var second = TestServer.Create(Handlers.EchoLinesAsync);

        var error = Assert.Throws<IOException>(() => second.Server.Listen(first.Port, "127.0.0.1"));

        Assert.Contains($"127.0.0.1:{first.Port}", error.Message, StringComparison.Ordinal);
        Assert.Empty(second.Server.LocalEndPoints);
        await using var client = await first.ConnectAsync();
        await client.SendAsync("first still serves\n");
        Assert.Equal("first still serves\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Listen_BadAddress_ThrowsNamingIt()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var server = test.Server;

        var error = Assert.Throws<ArgumentException>(() => server.Listen(0, "not-an-address"));

        Assert.Contains("not-an-address", error.Message, StringComparison.Ordinal);
        Assert.Empty(server.LocalEndPoints);
    }

    [Fact]
    public async Task Listen_HostOrderUIntAddress()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var server = test.Server;

        server.Listen(0, 0x7F000001u);

        var endPoint = Assert.IsType<IPEndPoint>(Assert.Single(server.LocalEndPoints));
        Assert.Equal(IPAddress.Loopback, endPoint.Address);
        await using var client = await TestClient.ConnectAsync(endPoint);
        await client.SendAsync("uint\n");
        Assert.Equal("uint\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Listen_TwoPortsOnOneServer()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var server = test.Server;

        server.Listen(0, IPAddress.Loopback);
        server.Listen(0, "127.0.0.1", backlog: 16);

        Assert.Equal(2, server.LocalEndPoints.Count);
        foreach (var endPoint in server.LocalEndPoints)
        {
            await using var client = await TestClient.ConnectAsync(endPoint);
            await client.SendAsync("port\n");
            Assert.Equal("port\n", await client.ReadLineAsync().Within());
        }

    }

    [Fact]
    public async Task Listen_DualStackAny_ShowsIPv4PeersAsIPv4()
    {
        // CI machines have IPv6 loopback; a machine without it fails here rather than skipping silently.
        Assert.True(Socket.OSSupportsIPv6, "IPv6 is not available on this machine.");
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var test = TestServer.Create((_, address) =>
        {
            seen.TrySetResult(address);
            return Task.CompletedTask;
        });
        var server = test.Server;

        server.Listen(0);

        var endPoint = Assert.IsType<IPEndPoint>(Assert.Single(server.LocalEndPoints));
        Assert.Equal(IPAddress.IPv6Any, endPoint.Address);
        await using var client = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, endPoint.Port));
        Assert.Equal("127.0.0.1", await seen.Task.Within());
    }

    [Fact]
    public async Task Listen_LocalhostBindsEachLoopbackAddress()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var server = test.Server;

        server.Listen(0, "localhost");

        var addresses = server.LocalEndPoints.Cast<IPEndPoint>().Select(e => e.Address).ToArray();
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], addresses);
        foreach (var endPoint in server.LocalEndPoints)
        {
            await using var client = await TestClient.ConnectAsync(endPoint);
            await client.SendAsync("loopback\n");
            Assert.Equal("loopback\n", await client.ReadLineAsync().Within());
        }
    }

    [Fact]
    public async Task Listen_InterNetworkWithoutAddress_IsEveryIPv4Interface()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);

        test.Server.Listen(0, family: AddressFamily.InterNetwork);

        var endPoint = Assert.IsType<IPEndPoint>(Assert.Single(test.Server.LocalEndPoints));
        Assert.Equal(IPAddress.Any, endPoint.Address);
        await using var client = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, endPoint.Port));
        await client.SendAsync("any v4\n");
        Assert.Equal("any v4\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Listen_LocalhostWithFamilyBindsThatFamilyOnly()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);

        test.Server.Listen(0, "localhost", family: AddressFamily.InterNetworkV6);

        var endPoint = Assert.IsType<IPEndPoint>(Assert.Single(test.Server.LocalEndPoints));
        Assert.Equal(IPAddress.IPv6Loopback, endPoint.Address);
    }

    [Fact]
    public async Task Listen_FamilyMismatch_Throws()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var server = test.Server;

        Assert.Throws<ArgumentException>(() => server.Listen(0, "127.0.0.1", family: AddressFamily.InterNetworkV6));
    }

    [Fact]
    public async Task Listen_BacklogIsTheListenersOwn()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        var server = test.Server;

        server.Listen(0, "127.0.0.1", backlog: 37);

        var port = ((IPEndPoint)server.LocalEndPoints[0]).Port;
        var table = await File.ReadAllTextAsync("/proc/net/tcp");
        Assert.Contains($":{port:X4} 00000000:0000 0A", table, StringComparison.Ordinal);
        Assert.Equal(37, KernelSockets.ListenBacklog(port));
    }
}
