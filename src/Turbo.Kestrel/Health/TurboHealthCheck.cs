using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Turbo.Kestrel.Hosting;

namespace Turbo.Kestrel.Health;

/// <summary>
/// Reports the hosted Turbo servers: healthy while every configured endpoint listens; unhealthy (the registration's
/// failure status) before they start or when an endpoint does not listen. While they drain, the liveness check says
/// degraded and the readiness check says unhealthy, from the moment the host begins to stop.
/// </summary>
internal sealed class TurboHealthCheck(IServiceProvider services, bool readiness) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Task.FromResult(Check(context.Registration.FailureStatus));
    }

    private HealthCheckResult Check(HealthStatus failure)
    {
        if (services.GetService<TurboHostedService>() is not { } hosted)
        {
            return new HealthCheckResult(failure, "No Turbo servers: UseTurboTcp() was not called on this host.");
        }

        var state = hosted.GetHealthState();
        var data = Describe(state);
        var stopping = state.Stopping || services.GetService<IHostApplicationLifetime>()?.ApplicationStopping.IsCancellationRequested == true;
        if (stopping)
        {
            var draining = $"Draining: the host is stopping; {state.Connections} connections open.";
            return readiness ? new HealthCheckResult(failure, draining, data: data) : HealthCheckResult.Degraded(draining, data: data);
        }

        if (!state.Started)
        {
            return new HealthCheckResult(failure, "The Turbo servers have not started yet.", data: data);
        }

        var down = state.Endpoints.Where(e => !e.Listening).ToArray();
        if (down.Length > 0)
        {
            var which = string.Join("; ", down.Select(e => e.Error is null ? $"{e.Key} is not listening" : $"{e.Key}: {e.Error}"));
            return new HealthCheckResult(failure, $"{down.Length} of {state.Endpoints.Count} endpoints not listening: {which}", data: data);
        }

        return HealthCheckResult.Healthy($"{state.Endpoints.Count} endpoints listening; {state.Connections} connections open.", data);
    }

    /// <summary>Per endpoint key: its URL when it listens, else why not.</summary>
    private static Dictionary<string, object> Describe(HealthState state)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal) { ["connections"] = state.Connections };
        foreach (var endpoint in state.Endpoints)
        {
            data[endpoint.Key] = endpoint.Listening ? $"listening on {endpoint.BoundTo}" : endpoint.Error ?? "not listening";
        }

        return data;
    }
}
