using Turbo.Kestrel.Listening;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// One endpoint of a configured server: <c>Turbo:Servers:&lt;server&gt;:Endpoints:&lt;name&gt;</c>. Equal settings
/// (the same key, URL text, backlog and port sharing) are the same endpoint: a reload leaves its listener running.
/// </summary>
/// <param name="Key">The configuration path of the endpoint section, for error messages.</param>
/// <param name="Url">The parsed URL.</param>
/// <param name="Backlog">The listen backlog.</param>
/// <param name="ReusePort">SO_REUSEPORT: several processes may listen on the port, the kernel spreads connections (Linux).</param>
internal sealed record EndpointSettings(string Key, EndpointUrl Url, int Backlog, bool ReusePort);
