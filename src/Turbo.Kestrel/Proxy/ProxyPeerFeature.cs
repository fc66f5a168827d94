using System.Net;

namespace Turbo.Kestrel.Proxy;

/// <inheritdoc cref="IProxyPeerFeature"/>
internal sealed class ProxyPeerFeature(EndPoint? proxyEndPoint) : IProxyPeerFeature
{
    public EndPoint? ProxyEndPoint { get; } = proxyEndPoint;
}
