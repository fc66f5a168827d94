using System.Net;

namespace Turbo.Kestrel.Proxy;

/// <summary>
/// A parsed PROXY protocol header (HAProxy's <c>proxy-protocol.txt</c>, v1 or v2). <see cref="Source"/> and
/// <see cref="Destination"/> are null for a LOCAL command (health checks) and for UNKNOWN/UNSPEC, where the
/// connection's own addresses apply.
/// </summary>
/// <param name="Version">1 or 2.</param>
/// <param name="IsLocal">The v2 LOCAL command: the proxy speaks for itself.</param>
/// <param name="Source">The original client.</param>
/// <param name="Destination">The address the client connected to at the proxy.</param>
/// <param name="Length">Bytes the header took, to be consumed before the application's bytes.</param>
/// <param name="Tlvs">v2 type-length-value fields, in order (unknown types included, for the caller to skip).</param>
internal sealed record ProxyHeader(int Version, bool IsLocal, EndPoint? Source, EndPoint? Destination, int Length, IReadOnlyList<ProxyTlv> Tlvs);
