namespace Turbo.Kestrel.Proxy;

/// <summary>One v2 TLV: <c>0x01</c> ALPN, <c>0x02</c> authority (SNI), <c>0x05</c> unique id, <c>0x20</c> SSL, …</summary>
/// <param name="Type">The type byte.</param>
/// <param name="Value">The value bytes.</param>
internal sealed record ProxyTlv(byte Type, byte[] Value);
