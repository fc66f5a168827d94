using Microsoft.Extensions.Diagnostics.HealthChecks;
using Turbo.Kestrel.Health;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Health checks for the Turbo servers of a host built with <c>UseTurboTcp()</c>.</summary>
public static class TurboHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a liveness check of the Turbo servers: healthy while every configured endpoint listens; degraded while
    /// the host stops and the servers drain; <paramref name="failureStatus"/> before they start or when a configured
    /// endpoint is not listening (for example one a configuration change could not bind). The report's data lists
    /// each endpoint key with its state, and the open connections.
    /// </summary>
    /// <param name="builder">From <c>AddHealthChecks()</c>.</param>
    /// <param name="name">The check's name in reports.</param>
    /// <param name="failureStatus">What a failure reports; <see cref="HealthStatus.Unhealthy"/> when null.</param>
    /// <param name="tags">Tags to select the check with (for example <c>"live"</c>).</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddTurboTcp(
        this IHealthChecksBuilder builder, string name = "turbo-tcp", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(name, services => new TurboHealthCheck(services, readiness: false), failureStatus, tags));
    }

    /// <summary>
    /// Adds a readiness check of the Turbo servers: healthy while every configured endpoint listens, and
    /// <paramref name="failureStatus"/> before they start, when an endpoint is not listening, and from the moment the
    /// host begins to stop, so that a load balancer stops sending new connections while the open ones drain.
    /// </summary>
    /// <param name="builder">From <c>AddHealthChecks()</c>.</param>
    /// <param name="name">The check's name in reports.</param>
    /// <param name="failureStatus">What a failure reports; <see cref="HealthStatus.Unhealthy"/> when null.</param>
    /// <param name="tags">Tags to select the check with (for example <c>"ready"</c>).</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddTurboTcpReadiness(
        this IHealthChecksBuilder builder, string name = "turbo-tcp-ready", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(name, services => new TurboHealthCheck(services, readiness: true), failureStatus, tags));
    }
}
