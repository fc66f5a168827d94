namespace Turbo.Kestrel.Health;

/// <summary>The hosted servers as the health checks see them.</summary>
/// <param name="Started">The host has started the servers.</param>
/// <param name="Stopping">The host is stopping them: they drain.</param>
/// <param name="Endpoints">Every configured endpoint.</param>
/// <param name="Connections">Connections open on the configured endpoints.</param>
internal sealed record HealthState(bool Started, bool Stopping, IReadOnlyList<EndpointHealth> Endpoints, int Connections);
