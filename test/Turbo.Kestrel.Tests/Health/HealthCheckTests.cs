using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Turbo.Kestrel.Tests.Hosting;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Health;

/// <summary>The liveness and readiness checks of a host's Turbo servers, through the host's HealthCheckService.</summary>
public class HealthCheckTests
{
    [Fact]
    public async Task BeforeStart_BothAreUnhealthy_AfterStart_BothAreHealthy_AndNameTheEndpoint()
    {
        using var host = BuildHost<HostedEchoServer>(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" }, out _);

        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(host, "live")).Status);
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(host, "ready")).Status);

        await host.StartAsync().Within();
        try
        {
            var live = await CheckAsync(host, "live");
            Assert.Equal(HealthStatus.Healthy, live.Status);
            var port = ((System.Net.IPEndPoint)host.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints[0]).Port;
            Assert.Equal($"listening on 127.0.0.1:{port}", live.Data["Turbo:Servers:Echo:Endpoints:Main"]);
            Assert.Equal(HealthStatus.Healthy, (await CheckAsync(host, "ready")).Status);
        }
        finally
        {
            await host.StopAsync().Within();
        }
    }

    [Fact]
    public async Task AnEndpointThatCannotListenAfterAChange_IsUnhealthyNamingItsKey_UntilTheChangeIsUndone()
    {
        await using var occupied = TestServer.Start(Handlers.EchoLinesAsync);
        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" };
        using var host = BuildHost<HostedEchoServer>(settings, out var config);
        await host.StartAsync().Within();
        try
        {
            config.Replace(new Dictionary<string, string?>(settings) { ["Turbo:Servers:Echo:Endpoints:Taken:Url"] = $"tcp://127.0.0.1:{occupied.Port}" });
            var live = await WaitForAsync(host, "live", HealthStatus.Unhealthy);

            Assert.Contains("Turbo:Servers:Echo:Endpoints:Taken", live.Description, StringComparison.Ordinal);
            Assert.Contains($"127.0.0.1:{occupied.Port}", live.Description, StringComparison.Ordinal);
            Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(host, "ready")).Status);
            await using (var client = await TestClient.ConnectAsync(host.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints[0]))
            {
                await client.SendAsync("still served\n");
                Assert.Equal("still served\n", await client.ReadLineAsync().Within());
            }

            config.Replace(settings);
            await WaitForAsync(host, "live", HealthStatus.Healthy);
            Assert.Equal(HealthStatus.Healthy, (await CheckAsync(host, "ready")).Status);
        }
        finally
        {
            await host.StopAsync().Within();
        }
    }

    [Fact]
    public async Task AChangeWhoseCertificateCannotBeLoaded_KeepsTheRunningEndpoint_AndReportsTheNewOneNotListening()
    {
        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" };
        using var host = BuildHost<HostedEchoServer>(settings, out var config);
        await host.StartAsync().Within();
        try
        {
            var main = host.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints[0];
            config.Replace(new Dictionary<string, string?>(settings)
            {
                ["Turbo:Servers:Echo:Ssl:CertFile"] = "/nonexistent/turbo-health.crt",
                ["Turbo:Servers:Echo:Endpoints:Secure:Url"] = "tls://127.0.0.1:0",
            });

            var live = await WaitForAsync(host, "live", HealthStatus.Unhealthy);
            Assert.Contains("Turbo:Servers:Echo:Endpoints:Secure: Turbo:Servers:Echo:Ssl", live.Description, StringComparison.Ordinal);
            Assert.StartsWith("listening on 127.0.0.1:", (string)live.Data["Turbo:Servers:Echo:Endpoints:Main"], StringComparison.Ordinal);
            await using var client = await TestClient.ConnectAsync(main);
            await client.SendAsync("unchanged\n");
            Assert.Equal("unchanged\n", await client.ReadLineAsync().Within());
        }
        finally
        {
            await host.StopAsync().Within();
        }
    }

    [Fact]
    public async Task WhileDraining_LivenessIsDegraded_AndReadinessUnhealthy()
    {
        using var host = BuildHost<StubbornServer>(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" }, out _);
        await host.StartAsync().Within();
        var server = (StubbornServer)host.Services.GetRequiredKeyedService<TcpServer>("Echo");
        var client = await TestClient.ConnectAsync(server.LocalEndPoints[0]);
        await server.Accepted.Task.Within();

        var stopping = host.StopAsync();
        try
        {
            var ready = await WaitForAsync(host, "ready", HealthStatus.Unhealthy);
            Assert.StartsWith("Draining", ready.Description, StringComparison.Ordinal);
            var live = await WaitForAsync(host, "live", HealthStatus.Degraded);
            Assert.Contains("1 connections open", live.Description, StringComparison.Ordinal);
            Assert.False(stopping.IsCompleted);
        }
        finally
        {
            // The stubborn handler ends when its client leaves: the drain completes.
            await client.DisposeAsync();
            await stopping.Within();
        }
    }

    private static async Task<HealthReportEntry> CheckAsync(IHost host, string tag)
    {
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains(tag)).Within();
        return Assert.Single(report.Entries).Value;
    }

    private static async Task<HealthReportEntry> WaitForAsync(IHost host, string tag, HealthStatus status)
    {
        HealthReportEntry entry = default;
        await Timeouts.UntilAsync(async () => (entry = await CheckAsync(host, tag)).Status == status, $"the {tag} check is {status}");
        return entry;
    }

    private static IHost BuildHost<TServer>(Dictionary<string, string?> settings, out ReloadableConfiguration config)
        where TServer : TcpServer
    {
        var builder = ReloadableConfiguration.HostBuilder(settings, out config);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = Timeouts.Default);
        builder.UseTurboTcp().AddServer<TServer>("Echo");
        builder.Services.AddHealthChecks().AddTurboTcp(tags: ["live"]).AddTurboTcpReadiness(tags: ["ready"]);
        return builder.Build();
    }
}
