using Microsoft.AspNetCore.Server.Kestrel.Core;
using Turbo.Kestrel.Limits;

namespace Turbo.Kestrel.Hosting;

/// <summary>The <c>Turbo:Servers:&lt;name&gt;:Limits</c> section; a key that is absent keeps the value set in code.</summary>
/// <param name="MaxConnections">See <see cref="ConnectionLimits.MaxConnections"/>.</param>
/// <param name="IdleTimeout">See <see cref="ConnectionLimits.IdleTimeout"/>.</param>
/// <param name="WriteTimeout">See <see cref="ConnectionLimits.WriteTimeout"/>.</param>
/// <param name="MinReadRate">See <see cref="ConnectionLimits.MinReadRate"/>.</param>
internal sealed record LimitSettings(int? MaxConnections, TimeSpan? IdleTimeout, TimeSpan? WriteTimeout, MinDataRate? MinReadRate)
{
    /// <summary>Sets <paramref name="limits"/> to <paramref name="fromCode"/> with this section's values on top.</summary>
    public void ApplyTo(ConnectionLimits limits, LimitValues fromCode) => limits.Replace(new LimitValues(
        MaxConnections ?? fromCode.MaxConnections,
        IdleTimeout ?? fromCode.IdleTimeout,
        WriteTimeout ?? fromCode.WriteTimeout,
        MinReadRate ?? fromCode.MinReadRate));
}
