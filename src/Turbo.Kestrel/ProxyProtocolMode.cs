namespace Turbo.Kestrel;

/// <summary>Which PROXY protocol header a server expects in front of every connection.</summary>
public enum ProxyProtocolMode
{
    /// <summary>No header: the TCP peer is the client (the default).</summary>
    Off,

    /// <summary>HAProxy's text header, <c>send-proxy</c>.</summary>
    V1,

    /// <summary>HAProxy's binary header, <c>send-proxy-v2</c>.</summary>
    V2,

    /// <summary>Either version.</summary>
    Any,
}
