using System.Net;

namespace Turbo.Kestrel;

/// <summary>
/// PROXY protocol (HAProxy's <c>send-proxy</c>/<c>send-proxy-v2</c>) for a server behind a TCP load balancer: the
/// handler's <c>address</c> and <see cref="IOStream.RemoteEndPoint"/> become the original client's, and
/// <see cref="IOStream.ProxyEndPoint"/> keeps the balancer's. Set it before the server listens.
/// </summary>
/// <remarks>
/// As the specification requires, the header is never guessed: with a mode set, every connection must start with a
/// valid header from a trusted proxy within <see cref="HeaderTimeout"/>, or it is closed before the handler runs.
/// </remarks>
public sealed class ProxyProtocolOptions
{
    /// <summary>Which header to expect. Defaults to <see cref="ProxyProtocolMode.Off"/>.</summary>
    public ProxyProtocolMode Mode { get; set; }

    /// <summary>
    /// The proxies allowed to send a header (addresses and CIDR ranges); connections from anywhere else are closed.
    /// Required when <see cref="Mode"/> is not Off. Unix-socket peers are local and always allowed.
    /// </summary>
    public IList<IPNetwork> TrustedProxies { get; } = new List<IPNetwork>();

    /// <summary>How long a trusted proxy may take to send the whole header. Defaults to 3 seconds (a TCP retransmit).</summary>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Takes every setting of <paramref name="other"/> (a configuration section's).</summary>
    internal void CopyFrom(ProxyProtocolOptions other)
    {
        Mode = other.Mode;
        HeaderTimeout = other.HeaderTimeout;
        TrustedProxies.Clear();
        foreach (var network in other.TrustedProxies)
        {
            TrustedProxies.Add(network);
        }
    }
}
