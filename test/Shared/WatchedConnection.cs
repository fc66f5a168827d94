using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Turbo.Kestrel.Limits;

namespace Turbo.Kestrel.Testing;

/// <summary>
/// An in-memory connection under a server's limits on a fake clock: the test decides which bytes arrive, whether
/// the peer reads, and when time passes (each Advance runs the heartbeat inline).
/// </summary>
internal sealed class WatchedConnection : IAsyncDisposable
{
    private readonly IOLoop _loop;
    private readonly ServiceProvider _services;

    public WatchedConnection(Action<ConnectionLimits> limits, bool pauseOutput = false, long maxBufferSize = 1024 * 1024)
    {
        (_loop, Logs, _services) = TestServer.NewLoop(Time);
        var server = new DelegateServer((_, _) => Task.CompletedTask, _loop);
        limits(server.Limits);
        Watchdog = new ConnectionWatchdog(server, Time, _loop.LoggerFactory.CreateLogger("Turbo.Kestrel"));
        var watch = Watchdog.Watch() ?? throw new InvalidOperationException("The limits set no timeout.");
        Pipe = new PipeConnection(maxBufferSize, pauseOutput: pauseOutput, watch: watch);
        watch.Stream = Pipe.Stream;
        Watchdog.Track(watch);
    }

    public FakeTimeProvider Time { get; } = new();

    public LogSink Logs { get; }

    public ConnectionWatchdog Watchdog { get; }

    public PipeConnection Pipe { get; }

    public IOStream Stream => Pipe.Stream;

    public async ValueTask DisposeAsync()
    {
        await _loop.DisposeAsync();
        await _services.DisposeAsync();
    }
}
