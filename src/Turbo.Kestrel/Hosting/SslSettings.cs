using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Turbo.Kestrel.Hosting;

/// <summary>The <c>Turbo:Servers:&lt;name&gt;:Ssl</c> section (record equality tells a reload whether it changed).</summary>
/// <param name="Key">The section's configuration path, for error messages.</param>
/// <param name="CertFile">PEM certificate (chain allowed) or .pfx/.p12, relative paths from the content root.</param>
/// <param name="KeyFile">PEM private key.</param>
/// <param name="Password">For an encrypted key or a .pfx.</param>
/// <param name="ClientCertificateMode">Whether clients are asked for a certificate.</param>
/// <param name="Protocols">The TLS versions allowed.</param>
/// <param name="HandshakeTimeout">How long a handshake may take.</param>
internal sealed record SslSettings(
    string Key, string CertFile, string? KeyFile, string? Password,
    ClientCertificateMode ClientCertificateMode, SslProtocols Protocols, TimeSpan HandshakeTimeout)
{
    public SslOptions ToOptions(string contentRoot) => new()
    {
        CertFile = Path.Combine(contentRoot, CertFile),
        KeyFile = KeyFile is null ? null : Path.Combine(contentRoot, KeyFile),
        Password = Password,
        ClientCertificateMode = ClientCertificateMode,
        Protocols = Protocols,
        HandshakeTimeout = HandshakeTimeout,
    };
}
