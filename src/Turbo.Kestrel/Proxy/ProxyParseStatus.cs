namespace Turbo.Kestrel.Proxy;

/// <summary>What <see cref="ProxyHeaderParser.TryParse"/> found.</summary>
internal enum ProxyParseStatus
{
    /// <summary>The bytes so far are a valid beginning: wait for more.</summary>
    Incomplete,

    /// <summary>A complete, valid header.</summary>
    Parsed,

    /// <summary>Not a valid header: the connection must be closed before the application sees anything.</summary>
    Invalid,
}
