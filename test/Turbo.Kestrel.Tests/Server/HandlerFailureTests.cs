using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>A throwing handler closes its own connection, is logged once with the connection id, and nothing else stops.</summary>
public partial class HandlerFailureTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HandlerException_IsLoggedOnceAndTheNextClientIsServed(bool synchronous)
    {
        var connections = 0;
        var failedConnectionId = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start((stream, address) =>
        {
            if (Interlocked.Increment(ref connections) == 1)
            {
                failedConnectionId.TrySetResult(stream.ConnectionId);
                return synchronous ? throw new InvalidDataException("boom") : FailLaterAsync(stream);
            }

            return Handlers.EchoLinesAsync(stream, address);
        });

        await using (var first = await server.ConnectAsync())
        {
            await first.SendAsync("x\n");
            var (data, _) = await first.ReadToEndAsync().Within();
            Assert.Empty(data);
        }

        await using var second = await server.ConnectAsync();
        await second.SendAsync("still here\n");
        Assert.Equal("still here\n", await second.ReadLineAsync().Within());

        var connectionId = await failedConnectionId.Task.Within();
        var failures = server.Logs.Entries.Where(e => e.Exception is InvalidDataException).ToArray();
        var failure = Assert.Single(failures);
        Assert.Equal(LogLevel.Error, failure.Level);
        Assert.Equal("HandlerFailed", failure.EventId.Name);
        Assert.Equal(1, failure.EventId.Id);
        Assert.Contains(connectionId, failure.Message, StringComparison.Ordinal);

        // Kestrel's connection scope is open around the handler: a provider with scopes sees the id on every line; and
        // Turbo's, inside it, names the server.
        var scopes = failure.Scopes!.OfType<IEnumerable<KeyValuePair<string, object>>>().SelectMany(s => s).ToArray();
        Assert.All(scopes.Where(p => p.Key == "ConnectionId"), p => Assert.Equal(connectionId, p.Value));
        Assert.Contains(scopes, p => p.Key == "ConnectionId");
        Assert.Equal(nameof(DelegateServer), Assert.Single(scopes, p => p.Key == "TurboServer").Value);
    }

    [Fact]
    public async Task EveryLineAHandlerLogs_CarriesItsConnectionIdAndServer()
    {
        var logged = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        TestServer? test = null;
        test = TestServer.Start(async (stream, _) =>
        {
            // The application's own logger, from the same factory: Kestrel's scope and Turbo's are open around it.
            var logger = test!.Loop.LoggerFactory.CreateLogger("MyApp.Handler");
            Served(logger, stream.Address);
            logged.TrySetResult(stream.ConnectionId);
            await stream.WriteAsync("hi\n");
        });
        await using var _ = test;
        await using var client = await test.ConnectAsync();
        Assert.Equal("hi\n", await client.ReadLineAsync().Within());

        var connectionId = await logged.Task.Within();
        var line = Assert.Single(test.Logs.Entries, e => e.Category == "MyApp.Handler");
        var scopes = line.Scopes!.OfType<IEnumerable<KeyValuePair<string, object>>>().SelectMany(s => s).ToArray();
        Assert.All(scopes.Where(p => p.Key == "ConnectionId"), p => Assert.Equal(connectionId, p.Value));
        Assert.Contains(scopes, p => p.Key == "ConnectionId");
        Assert.Equal(nameof(DelegateServer), Assert.Single(scopes, p => p.Key == "TurboServer").Value);
    }

    [Fact]
    public async Task TheConnectionIdScope_DoesNotDependOnKestrelsLogFilter()
    {
        var logs = new LogSink();
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace).AddFilter("Microsoft.AspNetCore", LogLevel.None))
            .BuildServiceProvider();
        await using var loop = new IOLoop(services);
        var logged = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var appLogger = loop.LoggerFactory.CreateLogger("MyApp.Handler");
        var server = new DelegateServer(async (stream, _) =>
        {
            // Kestrel's categories are off, so Kestrel opens no connection scope: Turbo's still names the connection.
            Served(appLogger, stream.Address);
            logged.TrySetResult(stream.ConnectionId);
            await stream.WriteAsync("hi\n");
        }, loop);
        server.Listen(0, "127.0.0.1");
        await using (var client = await TestClient.ConnectAsync(server.LocalEndPoints[0]))
        {
            Assert.Equal("hi\n", await client.ReadLineAsync().Within());
        }

        var connectionId = await logged.Task.Within();
        var line = Assert.Single(logs.Entries, e => e.Category == "MyApp.Handler");
        var scopes = line.Scopes!.OfType<IEnumerable<KeyValuePair<string, object>>>().SelectMany(s => s).ToArray();
        Assert.Equal(connectionId, Assert.Single(scopes, p => p.Key == "ConnectionId").Value);
        Assert.Equal(nameof(DelegateServer), Assert.Single(scopes, p => p.Key == "TurboServer").Value);
        await server.StopAsync(TimeSpan.Zero).Within();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "serving {Peer}")]
    private static partial void Served(ILogger logger, string peer);

    [Fact]
    public async Task StreamClosedEndingAHandler_IsNotAnError()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);
        await using (var client = await server.ConnectAsync())
        {
            await client.SendAsync("bye\n");
            Assert.Equal("bye\n", await client.ReadLineAsync().Within());
        }

        var ended = await server.Logs.WaitForAsync(e => e.EventId.Name == "HandlerEndedByClosedStream");

        Assert.Equal(LogLevel.Debug, ended.Level);
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= LogLevel.Error);
    }

    private static async Task FailLaterAsync(IOStream stream)
    {
        await stream.ReadUntilAsync("\n");
        throw new InvalidDataException("boom");
    }
}
