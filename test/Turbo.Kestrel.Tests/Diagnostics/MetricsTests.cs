using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Turbo.Kestrel.Tests.Hosting;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Diagnostics;

/// <summary>The <c>Turbo.Kestrel</c> meter, read with a MeterListener while real connections come and go.</summary>
public class MetricsTests
{
    [Fact]
    public async Task AConnection_IsActiveWhileItsHandlerRuns_ThenItsDurationAndBytesAreRecorded_TaggedWithServerAndEndpoint()
    {
        await using var test = TestServer.Start(Handlers.EchoLinesAsync);
        using var metrics = MetricRecorder.For(test);

        await using (var client = await test.ConnectAsync())
        {
            await client.SendAsync("hello\n");
            Assert.Equal("hello\n", await client.ReadLineAsync().Within());
            await Timeouts.UntilAsync(() => metrics.Sum("turbo.active_connections") == 1, "one active connection");
        }

        await Timeouts.UntilAsync(() => metrics.Of("turbo.connection.duration").Count == 1, "the connection's duration recorded");
        Assert.Equal(0, metrics.Sum("turbo.active_connections"));
        var duration = Assert.Single(metrics.Of("turbo.connection.duration"));
        Assert.Equal("s", duration.Unit);
        Assert.InRange(duration.Value, 0, Timeouts.Default.TotalSeconds);
        Assert.Equal("127.0.0.1", duration.Tags["server.address"]);
        Assert.Equal(test.Port, duration.Tags["server.port"]);
        Assert.Equal("DelegateServer", duration.Tags["turbo.server"]);
        Assert.False(duration.Tags.ContainsKey("error.type"));
        Assert.Equal(6, metrics.Sum("turbo.connection.bytes_read"));
        Assert.Equal(6, metrics.Sum("turbo.connection.bytes_written"));
        Assert.Empty(metrics.Of("turbo.handler.errors"));
    }

    [Fact]
    public async Task ALongConnection_ReportsItsBytesWhileItRuns_AndTheExactTotalWhenItEnds()
    {
        const int Total = 512 * 1024;
        await using var test = TestServer.Start(async (stream, _) =>
        {
            while (true)
            {
                await stream.WriteAsync(await stream.ReadBytesAsync(64 * 1024, partial: true));
            }
        });
        using var metrics = MetricRecorder.For(test);
        var payload = new byte[Total];
        Random.Shared.NextBytes(payload);

        await using (var client = await test.ConnectAsync())
        {
            var echo = client.ReadExactlyAsync(Total);
            await client.SendAsync(payload);
            Assert.Equal(payload, await echo.Within());

            // Reported every 64 KiB when a read waits: all but the last 64 KiB show before the connection ends.
            await Timeouts.UntilAsync(() => metrics.Sum("turbo.connection.bytes_read") >= Total - (64 * 1024), "most bytes read reported");
            Assert.Empty(metrics.Of("turbo.connection.duration"));
        }

        await Timeouts.UntilAsync(() => metrics.Of("turbo.connection.duration").Count == 1, "the connection's duration recorded");
        Assert.Equal(Total, metrics.Sum("turbo.connection.bytes_read"));
        Assert.Equal(Total, metrics.Sum("turbo.connection.bytes_written"));
    }

    [Fact]
    public async Task AFailingHandler_IsCountedWithItsExceptionType_AndOthersAreNot()
    {
        await using var test = TestServer.Start(async (stream, _) =>
        {
            var line = await stream.ReadUntilAsync("\n");
            if (line[0] == (byte)'!')
            {
                throw new InvalidOperationException("the handler fails");
            }

            await stream.WriteAsync(line);
        });
        using var metrics = MetricRecorder.For(test);

        await using (var failing = await test.ConnectAsync())
        {
            await failing.SendAsync("!\n");
            Assert.Empty((await failing.ReadToEndAsync().Within()).Data);
        }

        await using (var fine = await test.ConnectAsync())
        {
            await fine.SendAsync("ok\n");
            Assert.Equal("ok\n", await fine.ReadLineAsync().Within());
        }

        await Timeouts.UntilAsync(() => metrics.Of("turbo.connection.duration").Count == 2, "both durations recorded");
        var error = Assert.Single(metrics.Of("turbo.handler.errors"));
        Assert.Equal(1, error.Value);
        Assert.Equal("System.InvalidOperationException", error.Tags["error.type"]);
        Assert.Single(metrics.Of("turbo.connection.duration"), d => (string?)d.Tags.GetValueOrDefault("error.type") == "System.InvalidOperationException");
    }

    [Fact]
    public async Task MaxConnections_ARefusedConnectionIsCountedAsRejected_NeverAsActive()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        test.Server.Limits.MaxConnections = 1;
        test.Server.Listen(0, "127.0.0.1");
        using var metrics = MetricRecorder.For(test);

        await using var first = await test.ConnectAsync();
        await first.SendAsync("first\n");
        Assert.Equal("first\n", await first.ReadLineAsync().Within());
        await using var second = await test.ConnectAsync();
        Assert.Empty((await second.ReadToEndAsync().Within()).Data);

        await Timeouts.UntilAsync(() => metrics.Of("turbo.rejected_connections").Count == 1, "one rejection");
        var rejected = Assert.Single(metrics.Of("turbo.rejected_connections"));
        Assert.Equal("max_connections", rejected.Tags["turbo.rejection.reason"]);
        Assert.Equal(1, metrics.Sum("turbo.active_connections"));
    }

    [Theory]
    [InlineData("10.0.0.0/8", null, "proxy_untrusted")]
    [InlineData("127.0.0.1/32", "PROXY NONSENSE\r\n", "proxy_header")]
    public async Task ProxyProtocol_ARefusedHeaderIsCountedAsRejected_WithItsReason(string trusted, string? header, string reason)
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        test.Server.ProxyProtocol.Mode = ProxyProtocolMode.V1;
        test.Server.ProxyProtocol.TrustedProxies.Add(System.Net.IPNetwork.Parse(trusted));
        test.Server.Listen(0, "127.0.0.1");
        using var metrics = MetricRecorder.For(test);

        // An untrusted peer is refused on its address alone, at accept: the reset may reach the client during connect
        // or read, and it sends nothing.
        var error = await Record.ExceptionAsync(async () =>
        {
            await using var client = await test.ConnectAsync();
            if (header is not null)
            {
                await client.SendAsync(header + "hello\n");
            }

            Assert.Empty((await client.ReadToEndAsync().Within()).Data);
        });

        Assert.True(error is null or System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset }, error?.ToString());
        await Timeouts.UntilAsync(() => metrics.Of("turbo.rejected_connections").Count == 1, "one rejection");
        Assert.Equal(reason, Assert.Single(metrics.Of("turbo.rejected_connections")).Tags["turbo.rejection.reason"]);
        Assert.Empty(metrics.Of("turbo.active_connections"));
    }

    [Fact]
    public async Task IdleTimeout_TheClosedConnectionIsCountedUnderItsLimit()
    {
        var time = new FakeTimeProvider();
        await using var test = TestServer.Create(Handlers.EchoLinesAsync, time: time);
        test.Server.Limits.IdleTimeout = TimeSpan.FromSeconds(5);
        test.Server.Listen(0, "127.0.0.1");
        using var metrics = MetricRecorder.For(test);

        await using var client = await test.ConnectAsync();
        await client.SendAsync("ping\n");
        Assert.Equal("ping\n", await client.ReadLineAsync().Within());
        for (var second = 0; second < 7; second++)
        {
            time.Elapse(TimeSpan.FromSeconds(1));
        }

        Assert.Empty((await client.ReadToEndAsync().Within()).Data);
        await Timeouts.UntilAsync(() => metrics.Of("turbo.limit_closed_connections").Count == 1, "one limit close");
        Assert.Equal("idle_timeout", Assert.Single(metrics.Of("turbo.limit_closed_connections")).Tags["turbo.limit"]);
    }

    [Fact]
    public async Task MaxBufferSize_TheClosedConnectionIsCountedUnderItsLimit_AndANeighbourIsServed()
    {
        await using var test = TestServer.Start(Handlers.EchoLinesAsync, maxBufferSize: 1024);
        using var metrics = MetricRecorder.For(test);

        await using var neighbour = await test.ConnectAsync();
        await using (var flooding = await test.ConnectAsync())
        {
            await flooding.SendAsync(new byte[4096]);
            await flooding.ReadToEndAsync().Within();
        }

        await neighbour.SendAsync("still here\n");
        Assert.Equal("still here\n", await neighbour.ReadLineAsync().Within());
        await Timeouts.UntilAsync(() => metrics.Of("turbo.limit_closed_connections").Count == 1, "one limit close");
        Assert.Equal("max_buffer_size", Assert.Single(metrics.Of("turbo.limit_closed_connections")).Tags["turbo.limit"]);
    }

    [Fact]
    public async Task Drain_TheOpenConnectionStaysActiveUntilItsHandlerEnds()
    {
        await using var test = TestServer.Start(async (stream, _) =>
        {
            await stream.ReadUntilAsync("\n");
            await Task.Delay(Timeout.Infinite, stream.ClosingRequested).ContinueWith(_ => { }, TaskScheduler.Default);
            await stream.WriteAsync("bye\n");
        });
        using var metrics = MetricRecorder.For(test);
        await using var client = await test.ConnectAsync();
        await client.SendAsync("hi\n");
        await Timeouts.UntilAsync(() => metrics.Sum("turbo.active_connections") == 1, "one active connection");

        var stop = test.Server.StopAsync(Timeouts.Default);

        Assert.Equal("bye\n", await client.ReadLineAsync().Within());
        await stop.Within();
        Assert.Equal(0, metrics.Sum("turbo.active_connections"));
        Assert.Single(metrics.Of("turbo.connection.duration"));
    }

    [Fact]
    public async Task Hosted_TheMeterComesFromTheHostsMeterFactory_AndCarriesTheConfiguredServerName()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Turbo:Servers:Metered:Endpoints:Main:Url"] = "tcp://127.0.0.1:0" });
        builder.UseTurboTcp().AddServer<HostedEchoServer>("Metered");
        using var host = builder.Build();
        using var metrics = MetricRecorder.ForServer("Metered", meterScope: host.Services.GetRequiredService<IMeterFactory>());
        await host.StartAsync().Within();
        try
        {
            await using (var client = await TestClient.ConnectAsync(host.Services.GetRequiredKeyedService<TcpServer>("Metered").LocalEndPoints[0]))
            {
                await client.SendAsync("metered\n");
                Assert.Equal("metered\n", await client.ReadLineAsync().Within());
            }

            await Timeouts.UntilAsync(() => metrics.Of("turbo.connection.duration").Count == 1, "the connection's duration recorded");
            Assert.Equal(8, metrics.Sum("turbo.connection.bytes_read"));
        }
        finally
        {
            await host.StopAsync().Within();
        }
    }
}
