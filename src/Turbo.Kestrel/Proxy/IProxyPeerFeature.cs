using System.Net;

namespace Turbo.Kestrel.Proxy;

/// <summary>The load balancer a PROXY header came from: the TCP peer before the header replaced it.</summary>
internal interface IProxyPeerFeature
{
    EndPoint? ProxyEndPoint { get; }
}
