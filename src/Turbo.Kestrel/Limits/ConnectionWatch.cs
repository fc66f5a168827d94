namespace Turbo.Kestrel.Limits;

/// <summary>
/// What one connection's timeouts are judged by. The connection's stream and output queue record what happens; the
/// <see cref="ConnectionWatchdog"/>'s heartbeat judges it. Bytes moving, the common case, cost one store and no clock
/// read: the heartbeat takes the activity flag and then reads the clock, so the time it stamps is never before the
/// activity happened, and a connection is never closed early. Only waits (a flush the peer holds up, a read holding part of a message)
/// read the clock, and those are on paths that await anyway.
/// </summary>
internal sealed class ConnectionWatch(LimitValues limits, TimeProvider time)
{
    private const long None = 0;

    private long _lastActivity = time.GetTimestamp();
    private int _active;
    private long _writeWaitingSince;
    private long _messageStartedAt;
    private long _messageStartBytes;
    private long _messageBytes;

    /// <summary>The limits the connection was accepted with.</summary>
    public LimitValues Limits { get; } = limits;

    /// <summary>The stream to abort when a limit is hit.</summary>
    public IOStream? Stream { get; set; }

    /// <summary>Links in the watchdog's list (guarded by its lock).</summary>
    public ConnectionWatch? Previous { get; set; }

    /// <summary>A limit already closed the connection (guarded by the watchdog's lock): it is judged once.</summary>
    public bool Breached { get; set; }

    /// <summary>Links in the watchdog's list (guarded by its lock).</summary>
    public ConnectionWatch? Next { get; set; }

    /// <summary>Bytes arrived: <paramref name="buffered"/> is how many the pending read now holds.</summary>
    public void OnBytesArrived(long buffered)
    {
        _active = 1;
        if (Volatile.Read(ref _messageStartedAt) != None)
        {
            Volatile.Write(ref _messageBytes, buffered);
        }
    }

    /// <summary>A read waits for more while holding part of its message: from now on the message must keep coming.</summary>
    public void OnReadWaiting(long buffered)
    {
        if (Limits.MinReadRate is null || Volatile.Read(ref _messageStartedAt) != None)
        {
            return;
        }

        _messageStartBytes = buffered;
        _messageBytes = buffered;
        Volatile.Write(ref _messageStartedAt, time.GetTimestamp());
    }

    /// <summary>The read completed or failed: no message is in progress.</summary>
    public void OnReadEnded() => Volatile.Write(ref _messageStartedAt, None);

    /// <summary>A write waits for the peer to take bytes.</summary>
    public void OnWriteWaiting() => Volatile.Write(ref _writeWaitingSince, time.GetTimestamp());

    /// <summary>The transport took a write's bytes.</summary>
    public void OnWriteDone()
    {
        if (_writeWaitingSince != None)
        {
            Volatile.Write(ref _writeWaitingSince, None);
        }

        _active = 1;
    }

    /// <summary>Which limit the connection has broken at <paramref name="now"/>, if any.</summary>
    public LimitBreach? Check(long now)
    {
        if (Volatile.Read(ref _active) != 0 && Interlocked.Exchange(ref _active, 0) != 0)
        {
            // Bytes moved since the last heartbeat, before the flag was taken: the clock read after it is never early.
            now = time.GetTimestamp();
            Volatile.Write(ref _lastActivity, now);
        }

        if (Limits.WriteTimeout is { } writeTimeout
            && Volatile.Read(ref _writeWaitingSince) is var since and not None
            && time.GetElapsedTime(since, now) > writeTimeout)
        {
            return new(LimitKind.WriteTimeout, $"a write waited {writeTimeout.TotalSeconds:0.###} s for the peer to read (WriteTimeout)");
        }

        if (Limits.IdleTimeout is { } idleTimeout && time.GetElapsedTime(Volatile.Read(ref _lastActivity), now) > idleTimeout)
        {
            return new(LimitKind.IdleTimeout, $"no bytes either way for {idleTimeout.TotalSeconds:0.###} s (IdleTimeout)");
        }

        if (Limits.MinReadRate is { } rate && Volatile.Read(ref _messageStartedAt) is var started and not None)
        {
            var elapsed = time.GetElapsedTime(started, now);
            var received = Volatile.Read(ref _messageBytes) - Volatile.Read(ref _messageStartBytes);

            // A read that ended meanwhile (and maybe a new one began) is judged at the next heartbeat.
            if (elapsed > rate.GracePeriod && Volatile.Read(ref _messageStartedAt) == started
                && received < rate.BytesPerSecond * elapsed.TotalSeconds)
            {
                return new(LimitKind.MinReadRate,
                    $"a message arrived at {received / elapsed.TotalSeconds:0.#} bytes/s, below {rate.BytesPerSecond:0.#} (MinReadRate)");
            }
        }

        return null;
    }
}
