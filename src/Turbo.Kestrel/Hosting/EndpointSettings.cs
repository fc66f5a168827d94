using System.Net.Sockets;

namespace Turbo.Kestrel.Hosting;

/// <summary>One endpoint of a configured server: <c>Turbo:Servers:&lt;server&gt;:Endpoints:&lt;name&gt;</c>.</summary>
/// <param name="Key">The configuration path of the endpoint section, for error messages.</param>
/// <param name="Url">The URL as written.</param>
/// <param name="Host">The host part: an IP literal, <c>localhost</c>, a unix socket path, or null for every interface.</param>
/// <param name="Port">The port.</param>
/// <param name="Family">The address family <see cref="TcpServer.Listen(int, string?, int, AddressFamily)"/> is given.</param>
/// <param name="FileHandle">For <c>fd://N</c>: the inherited listening socket's descriptor.</param>
/// <param name="Backlog">The listen backlog.</param>
/// <param name="Tls">Written as <c>tls://</c>: the server's <c>Ssl</c> section must give a certificate.</param>
/// <param name="ReusePort">SO_REUSEPORT: several processes may listen on the port, the kernel spreads connections (Linux).</param>
internal sealed record EndpointSettings(
    string Key, string Url, string? Host, int Port, AddressFamily Family, int? FileHandle, int Backlog, bool Tls, bool ReusePort = false);
