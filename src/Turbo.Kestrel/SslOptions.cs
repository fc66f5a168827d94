using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Turbo.Kestrel;

/// <summary>
/// TLS settings for a <see cref="TcpServer"/>: Turbo's <c>ssl_options</c> (<c>cert_file</c>, <c>key_file</c>).
/// </summary>
/// <remarks>
/// This version of Turbo.Kestrel accepts the type so that server constructors keep their final shape,
/// but does not serve TLS yet: a server constructed with TLS settings throws
/// <see cref="NotSupportedException"/>.
/// </remarks>
public sealed class SslOptions
{
    /// <summary>The PEM certificate file (it may hold the chain), or a <c>.pfx</c>/<c>.p12</c> file.</summary>
    public string? CertFile { get; set; }

    /// <summary>The PEM private key file; not needed for a <c>.pfx</c>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>The password of an encrypted key or of a <c>.pfx</c>.</summary>
    public string? Password { get; set; }

    /// <summary>Whether clients are asked for a certificate. Defaults to <see cref="ClientCertificateMode.NoCertificate"/>.</summary>
    public ClientCertificateMode ClientCertificateMode { get; set; }

    /// <summary>A callback that decides whether a client certificate is accepted.</summary>
    public Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool>? ClientCertificateValidation { get; set; }

    /// <summary>The TLS versions allowed. Defaults to <see cref="SslProtocols.None"/>: the operating system's choice (TLS 1.2 and 1.3).</summary>
    public SslProtocols Protocols { get; set; }

    /// <summary>How long a client may take to complete the handshake. Defaults to 10 seconds.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
