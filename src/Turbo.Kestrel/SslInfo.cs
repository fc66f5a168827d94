using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Turbo.Kestrel;

/// <summary>What was negotiated on a TLS connection (<see cref="IOStream.Tls"/>).</summary>
public sealed class SslInfo
{
    internal SslInfo(SslProtocols protocol, X509Certificate2? clientCertificate, string? hostName)
    {
        Protocol = protocol;
        ClientCertificate = clientCertificate;
        HostName = hostName;
    }

    /// <summary>The TLS version in use.</summary>
    public SslProtocols Protocol { get; }

    /// <summary>The certificate the client presented, if any.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>The host name the client asked for (SNI), if any.</summary>
    public string? HostName { get; }
}
