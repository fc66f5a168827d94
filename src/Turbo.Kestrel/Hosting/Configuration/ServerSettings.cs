using Turbo.Kestrel.Limits;

namespace Turbo.Kestrel.Hosting;

/// <summary>The configuration of one server: <c>Turbo:Servers:&lt;name&gt;</c>.</summary>
/// <param name="Name">The server's registered name.</param>
/// <param name="Key">The section's configuration path, for error messages.</param>
/// <param name="MaxBufferSize">Overrides the constructor's value when set.</param>
/// <param name="Endpoints">Where it listens.</param>
/// <param name="Ssl">TLS for every endpoint of the server (files resolved from the content root), when the section is present.</param>
/// <param name="Proxy">PROXY protocol, when the section is present.</param>
/// <param name="Limits">Connection limits, when the section is present; a key that is absent is null (the code's value stays).</param>
internal sealed record ServerSettings(
    string Name,
    string Key,
    long? MaxBufferSize,
    IReadOnlyList<EndpointSettings> Endpoints,
    SslOptions? Ssl,
    ProxyProtocolOptions? Proxy,
    LimitValues? Limits)
{
    /// <summary>The <c>Ssl</c> section's key, for error messages.</summary>
    public string SslKey => Key + ":Ssl";
}
