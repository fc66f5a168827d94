using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Limits;

/// <summary>
/// One server's connection limits: admits connections up to <see cref="ConnectionLimits.MaxConnections"/> (over all
/// its endpoints), and runs a heartbeat, once a second, that closes connections which broke a timeout. The heartbeat
/// runs only while some connection has a timeout; a watched connection costs a flag store per read and write (the
/// heartbeat reads the clock), and one with no timeout set costs nothing.
/// </summary>
internal sealed class ConnectionWatchdog(TcpServer server, TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RefusalReportInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private ConnectionWatch? _head;
    private ITimer? _timer;
    private int _active;
    private long _refusedSinceReport;
    private long _lastRefusalReport;

    /// <summary>Connections admitted and not yet ended (accepted, perhaps still in their PROXY header or handshake).</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>Counts a new connection in, or refuses it when the server is full.</summary>
    public bool TryAdmit(string connectionId)
    {
        if (server.Limits.MaxConnections is not { } max)
        {
            Interlocked.Increment(ref _active);
            return true;
        }

        var active = Volatile.Read(ref _active);
        while (active < max)
        {
            var seen = Interlocked.CompareExchange(ref _active, active + 1, active);
            if (seen == active)
            {
                return true;
            }

            active = seen;
        }

        TurboLog.ConnectionRefused(logger, connectionId, server.Name, max);
        ReportRefusals(max);
        return false;
    }

    /// <summary>An admitted connection has ended.</summary>
    public void Release() => Interlocked.Decrement(ref _active);

    /// <summary>A watch for a new connection's timeouts, or null when none is set.</summary>
    public ConnectionWatch? Watch()
    {
        var limits = server.Limits.Current;
        return limits.HasTimeouts ? new ConnectionWatch(limits, time) : null;
    }

    /// <summary>Puts a connection under the heartbeat.</summary>
    public void Track(ConnectionWatch watch)
    {
        lock (_gate)
        {
            watch.Next = _head;
            if (_head is not null)
            {
                _head.Previous = watch;
            }

            _head = watch;
            _timer ??= StartHeartbeat();
        }
    }

    /// <summary>
    /// The heartbeat timer, started without the current execution context: it outlives the connection that starts it,
    /// and must not carry that connection's logging scope or async locals into every later beat.
    /// </summary>
    private ITimer StartHeartbeat()
    {
        using (ExecutionContext.SuppressFlow())
        {
            return time.CreateTimer(static s => ((ConnectionWatchdog)s!).Beat(), this, Heartbeat, Heartbeat);
        }
    }

    /// <summary>Takes an ended connection from the heartbeat.</summary>
    public void Untrack(ConnectionWatch watch)
    {
        lock (_gate)
        {
            if (watch.Previous is { } previous)
            {
                previous.Next = watch.Next;
            }
            else if (_head == watch)
            {
                _head = watch.Next;
            }

            if (watch.Next is { } next)
            {
                next.Previous = watch.Previous;
            }

            watch.Previous = watch.Next = null;
        }
    }

    private void Beat()
    {
        var now = time.GetTimestamp();
        List<(ConnectionWatch Watch, LimitBreach Breach)>? breaches = null;
        lock (_gate)
        {
            if (_head is null)
            {
                // Nothing to watch: the timer stops until the next connection with a timeout.
                _timer?.Dispose();
                _timer = null;
                return;
            }

            for (var watch = _head; watch is not null; watch = watch.Next)
            {
                if (!watch.Breached && watch.Check(now) is { } breach)
                {
                    watch.Breached = true;
                    (breaches ??= []).Add((watch, breach));
                }
            }
        }

        if (breaches is null)
        {
            return;
        }

        foreach (var (watch, breach) in breaches)
        {
            if (watch.Stream is not { } stream)
            {
                continue;
            }

            Log(stream.ConnectionId, breach);
            stream.AbortByLimit(new TimeoutException($"The connection was closed: {breach.Reason}."), MetricName(breach.Kind));
        }
    }

    /// <summary>The limit's name in metrics (<c>turbo.limit</c>).</summary>
    private static string MetricName(LimitKind kind) => kind switch
    {
        LimitKind.IdleTimeout => "idle_timeout",
        LimitKind.WriteTimeout => "write_timeout",
        LimitKind.MinReadRate => "min_read_rate",
        _ => kind.ToString(),
    };

    private void Log(string connectionId, LimitBreach breach)
    {
        switch (breach.Kind)
        {
            case LimitKind.IdleTimeout:
                TurboLog.IdleTimeout(logger, connectionId, server.Name, breach.Reason);
                break;
            case LimitKind.WriteTimeout:
                TurboLog.WriteTimeout(logger, connectionId, server.Name, breach.Reason);
                break;
            default:
                TurboLog.MinReadRate(logger, connectionId, server.Name, breach.Reason);
                break;
        }
    }

    /// <summary>A flood must not flood the log: one warning at the first refusal, then at most one per interval.</summary>
    private void ReportRefusals(int max)
    {
        Interlocked.Increment(ref _refusedSinceReport);
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastRefusalReport);
        if ((last != 0 && time.GetElapsedTime(last, now) < RefusalReportInterval)
            || Interlocked.CompareExchange(ref _lastRefusalReport, now, last) != last)
        {
            return;
        }

        TurboLog.MaxConnectionsReached(logger, server.Name, max, Interlocked.Exchange(ref _refusedSinceReport, 0));
    }
}
