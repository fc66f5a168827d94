using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Hosting;

/// <summary>Endpoint URL schemes in configuration, and changes applied while the host runs.</summary>
public class ListeningConfigurationTests
{
    [Fact]
    public async Task UnixUrl_ServesOnTheSocketPath()
    {
        using var dir = new TempDirectory();
        var path = dir.File("hosted.sock");
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Local:Url"] = $"unix:{path}" }, out _, out _);
        await host.StartAsync().Within();

        await using var client = await TestClient.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await client.SendAsync("hosted unix\n");
        Assert.Equal("hosted unix\n", await client.ReadLineAsync().Within());
        await host.StopAsync().Within();
        Assert.False(File.Exists(path));
    }

    [Theory]
    [InlineData("tcp://*:0", "::")]                       // one dual-stack socket: IPv4 and IPv6 clients
    [InlineData("tcp://localhost:0", "127.0.0.1,::1")]    // one socket per loopback address
    public async Task HostForms_InAUrl_BindWhatTheyName(string url, string addresses)
    {
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = url }, out _, out _);
        await host.StartAsync().Within();
        try
        {
            var bound = Server(host).LocalEndPoints.Cast<IPEndPoint>().ToArray();
            Assert.Equal(addresses.Split(','), bound.Select(e => e.Address.ToString()));
            var port = bound[0].Port;
            foreach (var target in bound.Length == 1 ? [new IPEndPoint(IPAddress.Loopback, port), new IPEndPoint(IPAddress.IPv6Loopback, port)] : bound)
            {
                await using var client = await TestClient.ConnectAsync(target);
                await client.SendAsync($"{target}\n");
                Assert.Equal($"{target}\n", await client.ReadLineAsync().Within());
            }
        }
        finally
        {
            await host.StopAsync().Within();
        }
    }

    [Fact]
    public async Task ReusePort_TwoHostsListenOnOnePort_AndBothServe()
    {
        using var first = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0", ["Turbo:Servers:Echo:Endpoints:Main:ReusePort"] = "true" }, out _, out _);
        await first.StartAsync().Within();
        var port = ((IPEndPoint)Server(first).LocalEndPoints[0]).Port;
        using var second = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = $"tcp://127.0.0.1:{port}", ["Turbo:Servers:Echo:Endpoints:Main:ReusePort"] = "true" }, out _, out _);
        await second.StartAsync().Within();
        try
        {
            // The kernel spreads connections by a hash of their addresses: new clients reach both hosts.
            var accepted = new[] { (HostedEchoServer)Server(first), (HostedEchoServer)Server(second) };
            for (var i = 0; i < 64 && !accepted.All(s => s.Accepted.Task.IsCompleted); i++)
            {
                await using var client = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
                await client.SendAsync("shared\n");
                Assert.Equal("shared\n", await client.ReadLineAsync().Within());
            }

            Assert.All(accepted, s => Assert.True(s.Accepted.Task.IsCompleted));
        }
        finally
        {
            await second.StopAsync().Within();
            await first.StopAsync().Within();
        }
    }

    [Fact]
    public async Task FdUrl_ServesAnInheritedListeningSocket()
    {
        var socket = SockUtil.BindSockets(0, "127.0.0.1")[0];
        var endPoint = socket.LocalEndPoint!;
        var fd = (int)socket.SafeHandle.DangerousGetHandle();

        // Hand the descriptor over as a parent process would: this Socket object no longer closes it.
        socket.SafeHandle.SetHandleAsInvalid();
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Inherited:Url"] = $"fd://{fd}" }, out _, out _);
        await host.StartAsync().Within();

        await using (var client = await TestClient.ConnectAsync(endPoint))
        {
            await client.SendAsync("inherited\n");
            Assert.Equal("inherited\n", await client.ReadLineAsync().Within());
        }

        await host.StopAsync().Within();
        await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(endPoint));
    }

    [Fact]
    public async Task FdUrl_RefusedDescriptorIsNeverClosed()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Timeouts.Default);
        using var accepted = await listener.AcceptAsync().WaitAsync(Timeouts.Default);
        var fd = (int)client.SafeHandle.DangerousGetHandle();
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Wrong:Url"] = $"fd://{fd}" }, out _, out _);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Echo:Endpoints:Wrong:Url", error.Message, StringComparison.Ordinal);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(5, await client.SendAsync("alive"u8.ToArray()).Within());
        var buffer = new byte[5];
        Assert.Equal(5, await accepted.ReceiveAsync(buffer).Within());
    }

    [Fact]
    public async Task FdUrl_TheSameDescriptorTwice_FailsStartNamingBothKeys()
    {
        var socket = SockUtil.BindSockets(0, "127.0.0.1")[0];
        var fd = (int)socket.SafeHandle.DangerousGetHandle();
        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:Endpoints:A:Url"] = $"fd://{fd}",
            ["Turbo:Servers:Echo:Endpoints:B:Url"] = $"fd://{fd}",
        }, out _, out _);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.Contains("Turbo:Servers:Echo:Endpoints:A:Url", error.Message, StringComparison.Ordinal);
        Assert.Contains("Turbo:Servers:Echo:Endpoints:B:Url", error.Message, StringComparison.Ordinal);
        socket.Dispose();
    }

    [Fact]
    public async Task FdUrl_BacklogAppliesAndARenameOnReloadKeepsServing()
    {
        var socket = SockUtil.BindSockets(0, "127.0.0.1")[0];
        var endPoint = (IPEndPoint)socket.LocalEndPoint!;
        var fd = (int)socket.SafeHandle.DangerousGetHandle();
        socket.SafeHandle.SetHandleAsInvalid();
        var settings = new Dictionary<string, string?>
        {
            ["Turbo:Servers:Echo:Endpoints:Inherited:Url"] = $"fd://{fd}",
            ["Turbo:Servers:Echo:Endpoints:Inherited:Backlog"] = "23",
        };
        using var host = BuildHost(settings, out var config, out _);
        await host.StartAsync().Within();
        Assert.Equal(23, KernelSockets.ListenBacklog(endPoint.Port));

        config.Replace(new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Renamed:Url"] = $"fd://{fd}" });

        await using (var client = await TestClient.ConnectAsync(endPoint))
        {
            await client.SendAsync("still inherited\n");
            Assert.Equal("still inherited\n", await client.ReadLineAsync().Within());
        }

        await host.StopAsync().Within();
    }

    [Fact]
    public async Task Reload_RemovingMaxBufferSizeRevertsToTheConstructorsValue()
    {
        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:MaxBufferSize"] = "4096" };
        using var host = BuildHost(settings, out var config, out _);
        await host.StartAsync().Within();
        Assert.Equal(4096, Server(host).MaxBufferSize);

        config.Replace(new Dictionary<string, string?>());

        Assert.Equal(128L * 1024 * 1024, Server(host).MaxBufferSize);
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task ProxyProtocol_FromConfiguration_GivesTheHandlerTheOriginalClient()
    {
        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0",
            ["Turbo:Servers:Echo:ProxyProtocol:Mode"] = "V1",
            ["Turbo:Servers:Echo:ProxyProtocol:TrustedProxies:0"] = "127.0.0.1",
            ["Turbo:Servers:Echo:ProxyProtocol:TrustedProxies:1"] = "10.0.0.0/8",
        }, out _, out _);
        await host.StartAsync().Within();
        var server = (HostedEchoServer)Server(host);

        await using var client = await TestClient.ConnectAsync(server.LocalEndPoints[0]);
        await client.SendAsync("PROXY TCP4 203.0.113.9 10.0.0.1 1234 7000\r\nwho\n");

        Assert.Equal("who\n", await client.ReadLineAsync().Within());
        Assert.Equal("203.0.113.9", (await server.Accepted.Task.Within()).Address);
        await host.StopAsync().Within();
    }

    [Theory]
    [InlineData("Turbo:Servers:Echo:ProxyProtocol:Mode", "V3", "Turbo:Servers:Echo:ProxyProtocol:Mode")]
    [InlineData("Turbo:Servers:Echo:ProxyProtocol:TrustedProxies", "10.0.0.0/8, not-an-ip", "Turbo:Servers:Echo:ProxyProtocol:TrustedProxies")]
    [InlineData("Turbo:Servers:Echo:ProxyProtocol:HeaderTimeout", "-1", "Turbo:Servers:Echo:ProxyProtocol:HeaderTimeout")]
    [InlineData("Turbo:Servers:Echo:ProxyProtocol:Trusted", "x", "Turbo:Servers:Echo:ProxyProtocol:Trusted")]
    public async Task ProxyProtocol_BadValuesFailStartNamingTheKey(string key, string value, string named)
    {
        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:ProxyProtocol:Mode"] = "V2",
            ["Turbo:Servers:Echo:ProxyProtocol:TrustedProxies"] = "127.0.0.1",
            [key] = value,
        }, out _, out _);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.StartsWith(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyProtocol_ModeWithoutTrustedProxies_FailsStart()
    {
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:ProxyProtocol:Mode"] = "Any" }, out _, out _);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Echo:ProxyProtocol:TrustedProxies", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Limits_FromConfigurationApply_AndARemovedKeyGoesBackToTheCodeValue()
    {
        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:Limits:MaxConnections"] = "5",
            ["Turbo:Servers:Echo:Limits:IdleTimeout"] = "00:00:30",
            ["Turbo:Servers:Echo:Limits:WriteTimeout"] = "00:00:10",
            ["Turbo:Servers:Echo:Limits:MinReadRate:BytesPerSecond"] = "100",
            ["Turbo:Servers:Echo:Limits:MinReadRate:GracePeriod"] = "00:00:07",
        }, out var config, out _);
        await host.StartAsync().Within();
        var limits = Server(host).Limits;

        Assert.Equal(5, limits.MaxConnections);
        Assert.Equal(TimeSpan.FromSeconds(30), limits.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), limits.WriteTimeout);
        Assert.Equal(100, limits.MinReadRate!.BytesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(7), limits.MinReadRate.GracePeriod);

        config.Replace(new Dictionary<string, string?> { ["Turbo:Servers:Echo:Limits:IdleTimeout"] = "00:01:00" });

        Assert.Equal(TimeSpan.FromMinutes(1), limits.IdleTimeout);
        Assert.Null(limits.MaxConnections);
        Assert.Null(limits.WriteTimeout);
        Assert.Null(limits.MinReadRate);
        await host.StopAsync().Within();
    }

    [Theory]
    [InlineData("Turbo:Servers:Echo:Limits:MaxConnections", "0", "Turbo:Servers:Echo:Limits:MaxConnections")]
    [InlineData("Turbo:Servers:Echo:Limits:IdleTimeout", "soon", "Turbo:Servers:Echo:Limits:IdleTimeout")]
    [InlineData("Turbo:Servers:Echo:Limits:WriteTimeout", "-00:00:01", "Turbo:Servers:Echo:Limits:WriteTimeout")]
    [InlineData("Turbo:Servers:Echo:Limits:MinReadRate:GracePeriod", "00:00:01", "Turbo:Servers:Echo:Limits:MinReadRate:GracePeriod")]
    [InlineData("Turbo:Servers:Echo:Limits:MinReadRate:BytesPerSecond", "fast", "Turbo:Servers:Echo:Limits:MinReadRate:BytesPerSecond")]
    [InlineData("Turbo:Servers:Echo:Limits:MaxConections", "5", "Turbo:Servers:Echo:Limits:MaxConections")]
    public async Task Limits_BadValuesFailStartNamingTheKey(string key, string value, string named)
    {
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Limits:MinReadRate:BytesPerSecond"] = "100", [key] = value }, out _, out _);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.StartsWith(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Limits_ARateWithoutBytesPerSecond_FailsStartNamingTheKey()
    {
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Limits:MinReadRate:GracePeriod"] = "00:00:05" }, out _, out _);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Echo:Limits:MinReadRate:BytesPerSecond", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("unix:relative.sock")]
    [InlineData("fd://three")]
    [InlineData("tls://127.0.0.1:7000")]
    public async Task BadUrl_FailsStartNamingTheKey(string url)
    {
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Bad:Url"] = url }, out _, out _);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Echo:Endpoints:Bad:Url", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Backlog_FromConfigurationReachesTheKernel()
    {
        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0",
            ["Turbo:Servers:Echo:Endpoints:Main:Backlog"] = "23",
        }, out _, out _);
        await host.StartAsync().Within();

        var port = ((IPEndPoint)Server(host).LocalEndPoints[0]).Port;

        Assert.Equal(23, KernelSockets.ListenBacklog(port));
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task Reload_AddsThenRemovesAnEndpointWithoutARestart()
    {
        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" };
        using var host = BuildHost(settings, out var config, out var logs);
        await host.StartAsync().Within();
        var main = Assert.Single(Server(host).LocalEndPoints);

        settings["Turbo:Servers:Echo:Endpoints:Extra:Url"] = "tcp://127.0.0.1:0";
        config.Replace(settings);

        Assert.Equal(2, Server(host).LocalEndPoints.Count);
        var extra = Server(host).LocalEndPoints.Single(e => !e.Equals(main));
        await using (var client = await TestClient.ConnectAsync(extra))
        {
            await client.SendAsync("added by reload\n");
            Assert.Equal("added by reload\n", await client.ReadLineAsync().Within());
        }

        await using var kept = await TestClient.ConnectAsync(extra);
        await kept.SendAsync("before removal\n");
        Assert.Equal("before removal\n", await kept.ReadLineAsync().Within());
        settings.Remove("Turbo:Servers:Echo:Endpoints:Extra:Url");
        config.Replace(settings);

        Assert.Equal([main], Server(host).LocalEndPoints);
        await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(extra));
        await kept.SendAsync("accepted connections keep running\n");
        Assert.Equal("accepted connections keep running\n", await kept.ReadLineAsync().Within());
        await using var still = await TestClient.ConnectAsync(main);
        await still.SendAsync("main untouched\n");
        Assert.Equal("main untouched\n", await still.ReadLineAsync().Within());
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task Reload_BadEditIsLoggedAndLeavesRunningEndpointsAlone()
    {
        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" };
        using var host = BuildHost(settings, out var config, out var logs);
        await host.StartAsync().Within();
        var main = Assert.Single(Server(host).LocalEndPoints);

        config.Replace(new Dictionary<string, string?>
        {
            ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://not a url",
            ["Turbo:Servers:Echo:Endpoints:Extra:Url"] = "tcp://127.0.0.1:0",
        });

        var rejected = await logs.WaitForAsync(e => e.EventId.Name == "ReloadRejected");
        Assert.Equal(LogLevel.Error, rejected.Level);
        Assert.Contains("Turbo:Servers:Echo:Endpoints:Main:Url", rejected.Message, StringComparison.Ordinal);
        Assert.Equal([main], Server(host).LocalEndPoints);
        await using var client = await TestClient.ConnectAsync(main);
        await client.SendAsync("still here\n");
        Assert.Equal("still here\n", await client.ReadLineAsync().Within());
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task UnixUrl_WithAPathTooLongForASocket_FailsStartNamingTheKey_AndAReloadToItIsLogged()
    {
        var tooLong = "unix:/" + new string('x', 200) + ".sock";
        using (var bad = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Bad:Url"] = tooLong }, out _, out _))
        {
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => bad.StartAsync().Within());
            Assert.StartsWith("Turbo:Servers:Echo:Endpoints:Bad:Url: '" + tooLong + "' is not a valid endpoint URL", error.Message, StringComparison.Ordinal);
        }

        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" };
        using var host = BuildHost(settings, out var config, out var logs);
        await host.StartAsync().Within();
        var main = Assert.Single(Server(host).LocalEndPoints);

        // The reload reads the section through the options monitor: a bad value is logged, nothing escapes the reload.
        config.Replace(new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = tooLong });

        var rejected = await logs.WaitForAsync(e => e.EventId.Name == "ReloadRejected");
        Assert.Contains("Turbo:Servers:Echo:Endpoints:Main:Url", rejected.Message, StringComparison.Ordinal);
        Assert.Equal([main], Server(host).LocalEndPoints);
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task Ipv6AnyInAUrl_IsIPv6Only_UnlikeAStar()
    {
        using var host = BuildHost(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://[::]:0" }, out _, out _);
        await host.StartAsync().Within();
        var bound = Assert.IsType<IPEndPoint>(Assert.Single(Server(host).LocalEndPoints));
        Assert.Equal(IPAddress.IPv6Any, bound.Address);

        await using (var v6 = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, bound.Port)))
        {
            await v6.SendAsync("v6\n");
            Assert.Equal("v6\n", await v6.ReadLineAsync().Within());
        }

        var refused = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() => TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, bound.Port)));
        Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, refused.SocketErrorCode);
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task Reload_EditingAppSettingsJsonAddsAnEndpoint()
    {
        using var dir = new TempDirectory();
        var file = dir.File("appsettings.json");
        await File.WriteAllTextAsync(file, Json("tcp://127.0.0.1:0"));
        var logs = new LogSink();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddJsonFile(file, optional: false, reloadOnChange: true);
        builder.Logging.AddProvider(logs);
        builder.UseTurboTcp().AddServer<HostedEchoServer>("Echo");
        using var host = builder.Build();
        await host.StartAsync().Within();
        var listening = logs.Entries.Count(e => e.EventId.Name == "Listening");

        await File.WriteAllTextAsync(file, Json("tcp://127.0.0.1:0", "tcp://[::1]:0"));

        await logs.WaitForAsync(e => e.EventId.Name == "Listening" && e.Message.Contains("[::1]", StringComparison.Ordinal));
        Assert.Equal(listening + 1, logs.Entries.Count(e => e.EventId.Name == "Listening"));
        Assert.Equal(2, Server(host).LocalEndPoints.Count);
        await host.StopAsync().Within();
    }

    private static string Json(params string[] urls) =>
        "{ \"Turbo\": { \"Servers\": { \"Echo\": { \"Endpoints\": { "
        + string.Join(", ", urls.Select((url, i) => $"\"E{i}\": {{ \"Url\": \"{url}\" }}"))
        + " } } } } }";

    private static TcpServer Server(IHost host) => host.Services.GetRequiredKeyedService<TcpServer>("Echo");

    private static IHost BuildHost(Dictionary<string, string?> settings, out ReloadableConfiguration config, out LogSink logs)
    {
        var builder = ReloadableConfiguration.HostBuilder(settings, out config);
        logs = new LogSink();
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.UseTurboTcp().AddServer<HostedEchoServer>("Echo");
        return builder.Build();
    }
}
