using System.Net;

namespace Turbo.Kestrel.Hosting;

/// <summary>The <c>Turbo:Servers:&lt;name&gt;:ProxyProtocol</c> section.</summary>
/// <param name="Mode">Which header to expect.</param>
/// <param name="TrustedProxies">Who may send it.</param>
/// <param name="HeaderTimeout">How long it may take.</param>
internal sealed record ProxySettings(ProxyProtocolMode Mode, IReadOnlyList<IPNetwork> TrustedProxies, TimeSpan HeaderTimeout)
{
    public void ApplyTo(ProxyProtocolOptions options)
    {
        options.Mode = Mode;
        options.HeaderTimeout = HeaderTimeout;
        options.TrustedProxies.Clear();
        foreach (var network in TrustedProxies)
        {
            options.TrustedProxies.Add(network);
        }
    }
}
