namespace Turbo.Kestrel.Health;

/// <summary>One configured endpoint as the health checks see it.</summary>
/// <param name="Key">The endpoint's configuration key (<c>Turbo:Servers:&lt;server&gt;:Endpoints:&lt;name&gt;</c>).</param>
/// <param name="BoundTo">What its sockets are bound to (with the real port when 0 was asked for), when it listens.</param>
/// <param name="Listening">It accepts connections.</param>
/// <param name="Error">Why it could not listen, when it could not.</param>
internal sealed record EndpointHealth(string Key, string? BoundTo, bool Listening, string? Error);
