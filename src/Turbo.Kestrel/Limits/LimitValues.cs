using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Turbo.Kestrel.Limits;

/// <summary>
/// One immutable set of a server's limits. <see cref="ConnectionLimits"/> swaps a whole set at once, so a connection
/// accepted during a change or a configuration reload sees either the old limits or the new ones, never a mix.
/// </summary>
internal sealed record LimitValues(int? MaxConnections, TimeSpan? IdleTimeout, TimeSpan? WriteTimeout, MinDataRate? MinReadRate)
{
    /// <summary>Every limit off.</summary>
    public static LimitValues None { get; } = new(null, null, null, null);

    /// <summary>These limits with <paramref name="overrides"/> laid over them: each limit <paramref name="overrides"/> sets wins.</summary>
    /// <param name="overrides">A configuration section's limits, where null means the key is absent; or null for no section.</param>
    public LimitValues Overlay(LimitValues? overrides) => overrides is null ? this : new(
        overrides.MaxConnections ?? MaxConnections,
        overrides.IdleTimeout ?? IdleTimeout,
        overrides.WriteTimeout ?? WriteTimeout,
        overrides.MinReadRate ?? MinReadRate);

    /// <summary>True when any timeout is set, so connections need the heartbeat.</summary>
    public bool HasTimeouts => IdleTimeout is not null || WriteTimeout is not null || MinReadRate is not null;
}
