using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Turbo.Kestrel;

/// <summary>
/// Per-server limits that protect a server facing the internet: how many connections it holds, and how long a
/// connection may sit idle, stall a write, or drip a message. Each limit closes only the offending connection (reset),
/// logs it once and counts it. Null turns a limit off; all are off by default, as in Turbo and Tornado.
/// </summary>
/// <remarks>
/// Timeouts are checked once a second (Kestrel's heartbeat), on the loop's <see cref="IOLoop.TimeProvider"/>: a
/// connection is never closed before its timeout, and at most one second after it (two for the idle timeout, whose
/// activity the heartbeat stamps so that moving bytes costs no clock read). Changes apply to connections accepted
/// afterwards.
/// A read or write pending when a limit closes the connection throws <see cref="StreamClosedException"/> with a
/// <see cref="TimeoutException"/> inside that names the limit.
/// </remarks>
public sealed class ConnectionLimits
{
    private int? _maxConnections;
    private TimeSpan? _idleTimeout;
    private TimeSpan? _writeTimeout;

    /// <summary>
    /// The most connections the server holds at once, over all its endpoints (a connection counts from accept, through
    /// a TLS handshake or PROXY header, until its handler returns). One more is closed at once, before any byte is read
    /// or written. Null: no limit.
    /// </summary>
    public int? MaxConnections
    {
        get => _maxConnections;
        set => _maxConnections = value is < 1
            ? throw new ArgumentOutOfRangeException(nameof(value), value, "MaxConnections must be at least 1 (null: no limit).")
            : value;
    }

    /// <summary>
    /// How long a connection may go without a byte either way: no bytes arriving and no write completing. The handler's
    /// own time counts (a handler that computes for longer than this without I/O loses its connection). Null: no limit.
    /// </summary>
    public TimeSpan? IdleTimeout
    {
        get => _idleTimeout;
        set => _idleTimeout = Positive(value, nameof(IdleTimeout));
    }

    /// <summary>
    /// How long a write may wait for the peer to take its bytes. Writes are handed to the transport in pieces of at most
    /// 64 KiB, and the clock restarts with each piece, so a large write to a slow but reading peer goes on, while a peer
    /// that stops reading is cut off and cannot pin the handler or its memory. Null: no limit.
    /// </summary>
    public TimeSpan? WriteTimeout
    {
        get => _writeTimeout;
        set => _writeTimeout = Positive(value, nameof(WriteTimeout));
    }

    /// <summary>
    /// The slowest a started message may arrive (slowloris): once a read has received part of what it waits for, the
    /// rest must come at <see cref="MinDataRate.BytesPerSecond"/> on average, measured after
    /// <see cref="MinDataRate.GracePeriod"/>. A read waiting for a message to begin is governed by
    /// <see cref="IdleTimeout"/> instead. Null: no limit.
    /// </summary>
    public MinDataRate? MinReadRate { get; set; }

    /// <summary>True when any timeout is set, so connections need the heartbeat.</summary>
    internal bool HasTimeouts => IdleTimeout is not null || WriteTimeout is not null || MinReadRate is not null;

    /// <summary>A copy, so a connection keeps the limits it was accepted with.</summary>
    internal ConnectionLimits Snapshot() => new()
    {
        _maxConnections = _maxConnections,
        _idleTimeout = _idleTimeout,
        _writeTimeout = _writeTimeout,
        MinReadRate = MinReadRate,
    };

    private static TimeSpan? Positive(TimeSpan? value, string name) => value is { } v && v <= TimeSpan.Zero
        ? throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive (null: no limit).")
        : value;
}
