using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Hosting;

/// <summary>Turbo servers inside a real ASP.NET Core host, beside its HTTP endpoint.</summary>
public class HostedTests
{
    [Fact]
    public async Task Hosted_EchoRoundTripBesideAnsweringHttpEndpoint()
    {
        await using var app = BuildApp(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" });
        await app.StartAsync().Within();

        await using var client = await TestClient.ConnectAsync(TcpEndPoint(app));
        await client.SendAsync("hosted\n");
        Assert.Equal("hosted\n", await client.ReadLineAsync().Within());

        using var http = new HttpClient();
        Assert.Equal("ok", await http.GetStringAsync(new Uri(new Uri(HttpAddress(app)), "/healthz")).Within());
        await app.StopAsync().Within();
    }

    [Fact]
    public async Task Hosted_ServerIsBuiltByDependencyInjection()
    {
        await using var app = BuildApp(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" });
        await app.StartAsync().Within();

        var server = Assert.IsType<HostedEchoServer>(app.Services.GetRequiredKeyedService<TcpServer>("Echo"));

        Assert.NotNull(server.Logger);
        Assert.Same(app.Services.GetRequiredService<IOLoop>(), server.IOLoop);
        await app.StopAsync().Within();
    }

    [Fact]
    public async Task Hosted_CommandLineAddsAnEndpointAndUrlsMovesOnlyHttp()
    {
        await using var app = BuildApp(
            new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" },
            "--Turbo:Servers:Echo:Endpoints:Extra:Url=tcp://127.0.0.1:0",
            "--urls=http://127.0.0.1:0");
        await app.StartAsync().Within();

        var endPoints = app.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints;
        Assert.Equal(2, endPoints.Count);
        foreach (var endPoint in endPoints)
        {
            await using var client = await TestClient.ConnectAsync(endPoint);
            await client.SendAsync("both\n");
            Assert.Equal("both\n", await client.ReadLineAsync().Within());
        }

        using var http = new HttpClient();
        Assert.Equal("ok", await http.GetStringAsync(new Uri(new Uri(HttpAddress(app)), "/healthz")).Within());
        await app.StopAsync().Within();
    }

    [Fact]
    public async Task Hosted_MaxBufferSizeFromConfigurationReachesStreams()
    {
        await using var app = BuildApp(new()
        {
            ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0",
            ["Turbo:Servers:Echo:MaxBufferSize"] = "4096",
        });
        await app.StartAsync().Within();
        var server = (HostedEchoServer)app.Services.GetRequiredKeyedService<TcpServer>("Echo");

        await using var client = await TestClient.ConnectAsync(TcpEndPoint(app));
        var stream = await server.Accepted.Task.Within();

        Assert.Equal(4096, server.MaxBufferSize);
        Assert.Equal(4096, stream.MaxBufferSize);
        await client.SendAsync(new string('x', 5000));
        var (_, _) = await client.ReadToEndAsync().Within();
        await app.StopAsync().Within();
    }

    [Fact]
    public async Task Hosted_StopDrainsOpenConnectionsThroughClosingRequested()
    {
        await using var app = BuildApp(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" });
        await app.StartAsync().Within();
        var server = (HostedEchoServer)app.Services.GetRequiredKeyedService<TcpServer>("Echo");
        await using var client = await TestClient.ConnectAsync(TcpEndPoint(app));
        var stream = await server.Accepted.Task.Within();

        await app.StopAsync().Within();

        Assert.True(stream.ClosingRequested.IsCancellationRequested);
        var (_, end) = await client.ReadToEndAsync().Within();
        Assert.Equal(ClientEnd.Fin, end);
    }

    [Fact]
    public async Task Hosted_BindErrorFailsStartNamingTheKey()
    {
        await using var occupied = TestServer.Start(Handlers.EchoLinesAsync);
        await using var app = BuildApp(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = $"tcp://127.0.0.1:{occupied.Port}" });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Echo:Endpoints:Main:Url", error.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{occupied.Port}", error.Message, StringComparison.Ordinal);
        await using var client = await occupied.ConnectAsync();
        await client.SendAsync("unaffected\n");
        Assert.Equal("unaffected\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Hosted_StartFailureDoesNotWaitForClientsOfServersThatStarted()
    {
        await using var occupied = TestServer.Start(Handlers.EchoLinesAsync);
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Turbo:Servers:First:Endpoints:Main:Url"] = "tcp://127.0.0.1:0",
            ["Turbo:Servers:Second:Endpoints:Main:Url"] = $"tcp://127.0.0.1:{occupied.Port}",
        });
        builder.UseTurboTcp().AddServer<StubbornServer>("First").AddServer<ClientOfFirstServer>("Second");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Second:Endpoints:Main:Url", error.Message, StringComparison.Ordinal);
        var first = (StubbornServer)host.Services.GetRequiredKeyedService<TcpServer>("First");
        Assert.True(first.Accepted.Task.IsCompletedSuccessfully);
        Assert.Empty(first.LocalEndPoints);
    }

    [Theory]
    [InlineData("Turbo:Servers:Ghost:Endpoints:Main:Url", "tcp://127.0.0.1:0", "Turbo:Servers:Ghost")]
    [InlineData("Turbo:Servers:Echo:Colour", "blue", "Turbo:Servers:Echo:Colour")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:Port", "7000", "Turbo:Servers:Echo:Endpoints:Main:Port")]
    [InlineData("Turbo:Servers:Echo:MaxBufferSize", "lots", "Turbo:Servers:Echo:MaxBufferSize")]
    [InlineData("Turbo:Servers:Echo:MaxBufferSize", "0", "Turbo:Servers:Echo:MaxBufferSize")]
    [InlineData("Turbo:Servers:Echo:MaxBufferSize", "-1", "Turbo:Servers:Echo:MaxBufferSize")]
    [InlineData("Turbo:Servers:Echo:Limits:IdleTimeout", "00:00:00", "Turbo:Servers:Echo:Limits:IdleTimeout")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:Backlog", "-1", "Turbo:Servers:Echo:Endpoints:Main:Backlog")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:Url", "http://127.0.0.1:7000", "Turbo:Servers:Echo:Endpoints:Main:Url")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:Url", "tcp://127.0.0.1", "Turbo:Servers:Echo:Endpoints:Main:Url")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:Url", "tcp://127.0.0.1:70000", "Turbo:Servers:Echo:Endpoints:Main:Url")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:Url", "tcp://example:7000", "Turbo:Servers:Echo:Endpoints:Main:Url")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:Url", "", "Turbo:Servers:Echo:Endpoints:Main:Url")]
    [InlineData("Turbo:Listeners", "x", "Turbo:Listeners")]
    [InlineData("Turbo:InlineScheduling", "sometimes", "Turbo:InlineScheduling")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:ReusePort", "maybe", "Turbo:Servers:Echo:Endpoints:Main:ReusePort")]
    [InlineData("Turbo:Servers:Echo:Endpoints:Main:ReusePort", "true", "Turbo:Servers:Echo:Endpoints:Main:ReusePort", "Turbo:Servers:Echo:Endpoints:Main:Url", "fd://3")]
    [InlineData("Turbo:Servers:Echo:Ssl:KeyFile", "key.pem", "Turbo:Servers:Echo:Ssl:CertFile")]
    [InlineData("Turbo:Servers:Echo:Ssl:Protocols", "Tls99", "Turbo:Servers:Echo:Ssl:Protocols", "Turbo:Servers:Echo:Ssl:CertFile", "cert.pem")]
    public async Task Hosted_BadConfigurationFailsStartNamingTheKey(string key, string value, string namedKey, string? otherKey = null, string? otherValue = null)
    {
        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0", [key] = value };
        if (otherKey is not null)
        {
            settings[otherKey] = otherValue;
        }

        await using var app = BuildApp(settings);

        // Checked before any hosted service starts: the host fails before anything starts, the HTTP side included.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().Within());

        Assert.StartsWith(namedKey, error.Message, StringComparison.Ordinal);
        Assert.Empty(app.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints);
        // The HTTP server did not start either: it fills in its bound addresses when it does.
        Assert.Empty(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses);
    }

    [Fact]
    public async Task Hosted_AServerWhoseConstructorFails_FailsTheStartNamingItsSection_AndNothingListens()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0",
            ["Turbo:Servers:Payments:Endpoints:Main:Url"] = "tcp://127.0.0.1:0",
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.UseTurboTcp().AddServer<HostedEchoServer>("Echo").AddServer<FailingServer>("Payments");
        await using var app = builder.Build();

        // A failure that has nothing to do with TLS is not blamed on a (missing) Ssl section.
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Payments: the server could not be created: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("the payments gateway is not configured", error.Message, StringComparison.Ordinal);
        Assert.Empty(app.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints);
    }

    [Fact]
    public async Task Hosted_AStubbornHandler_IsAbortedAtTheHostsShutdownTimeout_AndTheHostStops()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Turbo:Servers:Stubborn:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        builder.UseTurboTcp().AddServer<StubbornServer>("Stubborn");
        using var host = builder.Build();
        await host.StartAsync().Within();
        var server = (StubbornServer)host.Services.GetRequiredKeyedService<TcpServer>("Stubborn");
        await using var client = await TestClient.ConnectAsync(server.LocalEndPoints[0]);
        await server.Accepted.Task.Within();

        // The handler ignores ClosingRequested and waits for its client, which never leaves: the host's deadline ends it.
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync().Within();

        Assert.InRange(stopping.Elapsed, TimeSpan.FromSeconds(0.9), Timeouts.Default);
        var (data, end) = await client.ReadToEndAsync().Within();
        Assert.Empty(data);
        Assert.Equal(ClientEnd.Reset, end);
        Assert.Empty(server.LocalEndPoints);
    }

    [Fact]
    public async Task Hosted_ABadTlsUrl_IsQuotedAsWritten()
    {
        await using var app = BuildApp(new() { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tls://127.0.0.1" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().Within());

        Assert.StartsWith("Turbo:Servers:Echo:Endpoints:Main:Url: 'tls://127.0.0.1'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    [InlineData(null, false)]
    public async Task Hosted_InlineScheduling_IsSetOnTheLoopAndTheServerEchoes(string? value, bool expected)
    {
        var settings = new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0", ["Turbo:InlineScheduling"] = value };
        await using var app = BuildApp(settings);
        await app.StartAsync().Within();

        Assert.Equal(expected, app.Services.GetRequiredService<IOLoop>().InlineScheduling);
        await using var client = await TestClient.ConnectAsync(app.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints[0]);
        await client.SendAsync("one\ntwo\nthree\n");
        Assert.Equal("one\n", await client.ReadLineAsync().Within());
        Assert.Equal("two\n", await client.ReadLineAsync().Within());
        Assert.Equal("three\n", await client.ReadLineAsync().Within());
        await app.StopAsync().Within();
    }

    [Fact]
    public async Task Hosted_WorksInAGenericHostWithoutHttp()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Turbo:Servers:Echo:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" });
        builder.UseTurboTcp().AddServer<HostedEchoServer>("Echo");
        using var host = builder.Build();
        await host.StartAsync().Within();

        await using var client = await TestClient.ConnectAsync(host.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints[0]);
        await client.SendAsync("generic\n");
        Assert.Equal("generic\n", await client.ReadLineAsync().Within());
        await host.StopAsync().Within();
    }

    [Fact]
    public void AddServer_SameNameTwice_Throws()
    {
        var builder = Host.CreateApplicationBuilder();
        var turbo = builder.UseTurboTcp().AddServer<HostedEchoServer>("Echo");

        var error = Assert.Throws<ArgumentException>(() => turbo.AddServer<HostedEchoServer>("echo"));

        Assert.Contains("echo", error.Message, StringComparison.Ordinal);
        Assert.Same(turbo, builder.UseTurboTcp());
    }

    private static WebApplication BuildApp(Dictionary<string, string?> settings, params string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, EnvironmentName = "Test" });
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = settings });
        if (!args.Any(a => a.StartsWith("--urls", StringComparison.Ordinal)))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.UseTurboTcp().AddServer<HostedEchoServer>("Echo");
        var app = builder.Build();
        app.MapGet("/healthz", () => "ok");
        return app;
    }

    private static EndPoint TcpEndPoint(WebApplication app) =>
        app.Services.GetRequiredKeyedService<TcpServer>("Echo").LocalEndPoints[0];

    private static string HttpAddress(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
}
