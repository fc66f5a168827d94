using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Limits;

/// <summary>Limits on real connections: only the offenders are closed, counted and logged; everyone else is served.</summary>
public class ConnectionLimitTests
{
    [Fact]
    public async Task MaxConnections_150ClientsFor100Slots_50AreClosedWithoutData_AndTheSlotsComeBack()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.MaxConnections = 100;
        test.Server.Listen(0, "127.0.0.1", backlog: 512);

        var clients = await Task.WhenAll(Enumerable.Range(0, 150).Select(_ => test.ConnectAsync())).Within();
        var outcomes = await Task.WhenAll(clients.Select(PingAsync)).Within();

        Assert.Equal(100, outcomes.Count(served => served));
        Assert.Equal(50, metrics.Sum("turbo.rejected_connections", "turbo.rejection.reason", "max_connections"));
        var warning = await test.Logs.WaitForAsync(e => e.EventId.Name == "MaxConnectionsReached");
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Single(test.Logs.Entries, e => e.EventId.Name == "MaxConnectionsReached");
        Assert.Equal(50, test.Logs.Entries.Count(e => e.EventId.Name == "ConnectionRefused"));

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        // Once the served ones have gone, 100 new clients are all served (a slot frees when its handler has ended).
        for (var i = 0; i < 100; i++)
        {
            await using var next = await ConnectServedAsync(test);
        }
    }

    [Fact]
    public async Task MaxConnections_CountsOverAllEndpointsOfTheServer()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.MaxConnections = 1;
        test.Server.Listen(0, "127.0.0.1");
        test.Server.Listen(0, "127.0.0.1");
        var endPoints = test.Server.LocalEndPoints;

        await using var first = await TestClient.ConnectAsync(endPoints[0]);
        Assert.True(await PingAsync(first));
        await using var second = await TestClient.ConnectAsync(endPoints[1]);

        Assert.False(await PingAsync(second));
        Assert.True(await PingAsync(first));
        Assert.Equal(1, metrics.Sum("turbo.rejected_connections", "turbo.rejection.reason", "max_connections"));
    }

    [Fact]
    public async Task MaxConnections_ASlotComesBackWhenAPROXYHeaderIsRejected()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.MaxConnections = 1;
        test.Server.ProxyProtocol.Mode = ProxyProtocolMode.V1;
        test.Server.ProxyProtocol.TrustedProxies.Add(System.Net.IPNetwork.Parse("127.0.0.0/8"));
        test.Server.Listen(0, "127.0.0.1");

        for (var i = 0; i < 3; i++)
        {
            await using (var bad = await test.ConnectAsync())
            {
                await bad.SendAsync("PROXY NONSENSE\r\n");
                Assert.Empty((await bad.ReadToEndAsync().Within()).Data);
            }

            await Timeouts.UntilAsync(() => test.Server.Dispatcher.Watchdog.ActiveConnections == 0, "the rejected connection's slot is free");
        }

        await using var good = await test.ConnectAsync();
        await good.SendAsync("PROXY TCP4 203.0.113.7 10.0.0.1 4242 7000\r\nhello\n");
        Assert.Equal("hello\n", await good.ReadLineAsync().Within());
        Assert.Equal(0, metrics.Sum("turbo.rejected_connections", "turbo.rejection.reason", "max_connections"));
        Assert.Equal(3, test.Logs.Entries.Count(e => e.EventId.Name == "ProxyRejected"));
    }

    [Fact]
    public async Task MaxConnections_ASlotComesBackWhenATlsHandshakeFails()
    {
        using var certificates = new TestCertificates();
        await using var test = TestServer.Create(Handlers.EchoLinesAsync, ssl: certificates.Options());
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.MaxConnections = 1;
        test.Server.Listen(0, "127.0.0.1");

        for (var i = 0; i < 3; i++)
        {
            await using (var plain = await test.ConnectAsync())
            {
                await plain.SendAsync("not a TLS client hello\n");
                await plain.ReadToEndAsync().Within();
            }

            await Timeouts.UntilAsync(() => test.Server.Dispatcher.Watchdog.ActiveConnections == 0, "the failed handshake's slot is free");
        }

        await using var tls = await TlsClient.ConnectAsync(test.EndPoint);
        await tls.SendAsync("over tls\n");
        Assert.Equal("over tls\n", await tls.ReadLineAsync());
        Assert.Equal(0, metrics.Sum("turbo.rejected_connections", "turbo.rejection.reason", "max_connections"));
    }

    [Fact]
    public async Task MaxConnections_AFloodOfRefusals_WarnsOncePerTenSeconds_AndCountsEveryOne()
    {
        var time = new FakeTimeProvider();
        await using var test = TestServer.Create(Handlers.EchoLinesAsync, time: time);
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.MaxConnections = 1;
        test.Server.Listen(0, "127.0.0.1");
        await using var holder = await ConnectServedAsync(test);

        for (var i = 0; i < 200; i++)
        {
            await using var refused = await test.ConnectAsync();
            Assert.Empty((await refused.ReadToEndAsync().Within()).Data);
        }

        await Timeouts.UntilAsync(() => metrics.Sum("turbo.rejected_connections", "turbo.rejection.reason", "max_connections") == 200, "200 refusals counted");
        Assert.Single(test.Logs.Entries, e => e.EventId.Name == "MaxConnectionsReached");
        Assert.Equal(200, test.Logs.Entries.Count(e => e.EventId.Name == "ConnectionRefused" && e.Level == LogLevel.Debug));

        // Ten seconds on: the next refusal reports the ones since the first report (199) and itself.
        time.Advance(TimeSpan.FromSeconds(10));
        await using (var late = await test.ConnectAsync())
        {
            Assert.Empty((await late.ReadToEndAsync().Within()).Data);
        }

        await Timeouts.UntilAsync(() => test.Logs.Entries.Count(e => e.EventId.Name == "MaxConnectionsReached") == 2, "a second report");
        Assert.Contains("refused 200 connections", test.Logs.Entries.Last(e => e.EventId.Name == "MaxConnectionsReached").Message, StringComparison.Ordinal);
        Assert.True(await PingAsync(holder));
    }

    [Fact]
    public async Task IdleTimeout_TheHeartbeatStopsWithTheLastConnection_AndStartsAgainWithTheNext()
    {
        var time = new FakeTimeProvider();
        await using var test = TestServer.Create(Handlers.EchoLinesAsync, time: time);
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.IdleTimeout = TimeSpan.FromSeconds(5);
        test.Server.Listen(0, "127.0.0.1");

        await using (var first = await test.ConnectAsync())
        {
            Assert.True(await PingAsync(first));
        }

        await Timeouts.UntilAsync(() => test.Server.Dispatcher.Watchdog.ActiveConnections == 0, "the first connection ended");
        time.Elapse(TimeSpan.FromSeconds(3)); // a beat finds nothing to watch: the timer stops

        await using var second = await test.ConnectAsync();
        Assert.True(await PingAsync(second));
        time.Elapse(TimeSpan.FromSeconds(5));
        Assert.True(await PingAsync(second));
        time.Elapse(TimeSpan.FromSeconds(7));

        Assert.Empty((await second.ReadToEndAsync().Within()).Data);
        await Timeouts.UntilAsync(() => metrics.Sum("turbo.limit_closed_connections", "turbo.limit", "idle_timeout") == 1, "the idle connection counted");
    }

    [Fact]
    public async Task IdleTimeout_SilentConnectionsCloseOneTickAfterTheTimeout_ABusyOneStays()
    {
        var time = new FakeTimeProvider();
        var streams = new ConcurrentBag<IOStream>();
        const int Silent = 200;
        var allStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var test = TestServer.Create(
            async (stream, address) =>
            {
                streams.Add(stream);
                if (streams.Count == Silent + 1)
                {
                    allStarted.TrySetResult();
                }

                await Handlers.EchoLinesAsync(stream, address);
            },
            time: time);
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.IdleTimeout = TimeSpan.FromSeconds(5);
        test.Server.Listen(0, "127.0.0.1", backlog: 512);

        var silent = await Task.WhenAll(Enumerable.Range(0, Silent).Select(_ => test.ConnectAsync())).Within();
        await using var busy = await test.ConnectAsync();
        await allStarted.Task.Within();

        time.Elapse(TimeSpan.FromSeconds(4));
        Assert.True(await PingAsync(busy));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.All(streams, s => Assert.False(s.IsClosed));

        time.Advance(TimeSpan.FromSeconds(1));
        var ends = await Task.WhenAll(silent.Select(c => c.ReadToEndAsync())).Within();
        Assert.All(ends, end => Assert.Empty(end.Data));
        await Timeouts.UntilAsync(() => metrics.Sum("turbo.limit_closed_connections", "turbo.limit", "idle_timeout") == Silent, $"{Silent} idle connections counted");
        Assert.True(await PingAsync(busy));
        foreach (var client in silent)
        {
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task WriteTimeout_AClientThatNeverReads_CannotPinTheHandler_OthersAreServed()
    {
        var failure = new TaskCompletionSource<StreamClosedException>(TaskCreationOptions.RunContinuationsAsynchronously);
        long written = 0;
        await using var test = TestServer.Create(async (stream, address) =>
        {
            if (await stream.ReadUntilAsync("\n") is [(byte)'f', ..])
            {
                try
                {
                    var chunk = new byte[1024 * 1024];
                    for (var i = 0; i < 100; i++)
                    {
                        await stream.WriteAsync(chunk);
                        Interlocked.Add(ref written, chunk.Length);
                    }
                }
                catch (StreamClosedException ex)
                {
                    failure.TrySetResult(ex);
                }

                return;
            }

            await stream.WriteAsync("pong\n");
            await Handlers.EchoLinesAsync(stream, address);
        });
        using var metrics = MetricRecorder.ForLoop(test);
        test.Server.Limits.WriteTimeout = TimeSpan.FromSeconds(1);
        test.Server.Listen(0, "127.0.0.1");

        await using var stuck = await test.ConnectAsync();
        stuck.Socket.ReceiveBufferSize = 64 * 1024;
        await stuck.SendAsync("flood\n");
        var error = await failure.Task.Within();

        Assert.Contains("WriteTimeout", Assert.IsType<TimeoutException>(error.InnerException).Message, StringComparison.Ordinal);
        Assert.InRange(Interlocked.Read(ref written), 0, 16L * 1024 * 1024);
        await Timeouts.UntilAsync(() => metrics.Sum("turbo.limit_closed_connections", "turbo.limit", "write_timeout") == 1, "the stuck connection counted");
        await using var other = await test.ConnectAsync();
        await other.SendAsync("ping\n");
        Assert.Equal("pong\n", await other.ReadLineAsync().Within());
    }

    /// <summary>Connects until a connection is served: slots free up once the handlers of closed clients have ended.</summary>
    private static async Task<TestClient> ConnectServedAsync(TestServer test)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var client = await test.ConnectAsync();
            if (await PingAsync(client))
            {
                return client;
            }

            await client.DisposeAsync();
        }

        throw new InvalidOperationException("No connection was served in 200 attempts.");
    }

    /// <summary>True when the server echoes a line; false when it closed the connection without a byte.</summary>
    private static async Task<bool> PingAsync(TestClient client)
    {
        try
        {
            await client.SendAsync("ping\n");
            return await client.ReadLineAsync().Within() == "ping\n";
        }
        catch (Exception ex) when (ex is EndOfStreamException or SocketException)
        {
            return false;
        }
    }
}
