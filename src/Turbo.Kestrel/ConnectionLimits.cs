using Microsoft.AspNetCore.Server.Kestrel.Core;
using Turbo.Kestrel.Limits;

namespace Turbo.Kestrel;

/// <summary>
/// Per-server limits that protect a server facing the internet: how many connections it holds, and how long a
/// connection may sit idle, stall a write, or drip a message. Each limit closes only the offending connection (reset),
/// logs it once and counts it. Null turns a limit off; all are off by default, as in Turbo and Tornado.
/// </summary>
/// <remarks>
/// Timeouts are checked once a second (the server's heartbeat), on the loop's <see cref="IOLoop.TimeProvider"/>: a
/// connection is never closed before its timeout, and at most one second after it (two for the idle timeout, whose
/// activity the heartbeat stamps so that moving bytes costs no clock read). Changes apply to connections accepted
/// afterwards. When the server is hosted, the <c>Limits</c> configuration section is laid over the values set in code
/// before the host started, at start and at each configuration reload (a key that is absent keeps the code's value).
/// A read or write pending when a limit closes the connection throws <see cref="StreamClosedException"/> with a
/// <see cref="TimeoutException"/> inside that names the limit.
/// </remarks>
public sealed class ConnectionLimits
{
    private LimitValues _values = LimitValues.None;

    /// <summary>
    /// The most connections the server holds at once, over all its endpoints (a connection counts from accept, through
    /// a TLS handshake or PROXY header, until its handler returns). One more is closed at once, before any byte is read
    /// or written. Null: no limit.
    /// </summary>
    public int? MaxConnections
    {
        get => Current.MaxConnections;
        set
        {
            if (value is < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "MaxConnections must be at least 1 (null: no limit).");
            }

            Update(values => values with { MaxConnections = value });
        }
    }

    /// <summary>
    /// How long a connection may go without a byte either way: no bytes arriving and no write completing (a large write
    /// counts as activity each time the peer takes a 64 KiB piece). The handler's own time counts (a handler that
    /// computes for longer than this without I/O loses its connection). Null: no limit.
    /// </summary>
    public TimeSpan? IdleTimeout
    {
        get => Current.IdleTimeout;
        set
        {
            ThrowIfNotPositive(value, nameof(IdleTimeout));
            Update(values => values with { IdleTimeout = value });
        }
    }

    /// <summary>
    /// How long a write may wait for the peer to take its bytes. Writes are handed to the transport in pieces of at most
    /// 64 KiB, and the clock restarts with each piece, so a large write to a slow but reading peer goes on, while a peer
    /// that stops reading is cut off and cannot pin the handler or its memory. Null: no limit.
    /// </summary>
    public TimeSpan? WriteTimeout
    {
        get => Current.WriteTimeout;
        set
        {
            ThrowIfNotPositive(value, nameof(WriteTimeout));
            Update(values => values with { WriteTimeout = value });
        }
    }

    /// <summary>
    /// The slowest a started message may arrive (slowloris): once a read has received part of what it waits for, the
    /// rest must come at <see cref="MinDataRate.BytesPerSecond"/> on average, measured after
    /// <see cref="MinDataRate.GracePeriod"/>. A read waiting for a message to begin is governed by
    /// <see cref="IdleTimeout"/> instead. Streaming reads (the <c>onChunk</c> overloads) hand over every byte as it
    /// arrives, so no message is ever held partly: use <see cref="IdleTimeout"/> for them. Null: no limit.
    /// </summary>
    public MinDataRate? MinReadRate
    {
        get => Current.MinReadRate;
        set => Update(values => values with { MinReadRate = value });
    }

    /// <summary>The limits as they are now: one consistent set.</summary>
    internal LimitValues Current => Volatile.Read(ref _values);

    /// <summary>Replaces every limit at once (a configuration reload).</summary>
    internal void Replace(LimitValues values) => Volatile.Write(ref _values, values);

    private void Update(Func<LimitValues, LimitValues> change)
    {
        var seen = Current;
        while (true)
        {
            var previous = Interlocked.CompareExchange(ref _values, change(seen), seen);
            if (ReferenceEquals(previous, seen))
            {
                return;
            }

            seen = previous;
        }
    }

    private static void ThrowIfNotPositive(TimeSpan? value, string name)
    {
        if (value is { } v && v <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive (null: no limit).");
        }
    }
}
