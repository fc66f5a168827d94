namespace Turbo.Kestrel.Hosting;

/// <summary>The configuration of one server: <c>Turbo:Servers:&lt;name&gt;</c>.</summary>
/// <param name="Name">The server's registered name.</param>
/// <param name="MaxBufferSize">Overrides the constructor's value when set.</param>
/// <param name="Endpoints">Where it listens.</param>
/// <param name="Ssl">TLS for every endpoint of the server, when the section is present.</param>
/// <param name="Proxy">PROXY protocol, when the section is present.</param>
/// <param name="Limits">Connection limits, when the section is present.</param>
internal sealed record ServerSettings(
    string Name, long? MaxBufferSize, IReadOnlyList<EndpointSettings> Endpoints, SslSettings? Ssl, ProxySettings? Proxy, LimitSettings? Limits);
