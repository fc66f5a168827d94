using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Turbo.Kestrel;

/// <summary>
/// TLS settings for a <see cref="TcpServer"/>: Turbo's <c>ssl_options</c> (<c>cert_file</c>, <c>key_file</c>).
/// </summary>
/// <remarks>
/// The certificate is loaded when the server is constructed: a missing file, bad PEM, a key that does not match or a
/// certificate without a private key throws there, naming the file and the reason. Kestrel's TLS middleware runs the
/// handshake before <c>HandleStreamAsync</c>; failed handshakes are logged at Debug and never reach the handler.
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

    /// <summary>
    /// The ALPN protocols the server advertises, in order of preference. Empty by default: no ALPN, so a client
    /// offering any list still connects (Kestrel would otherwise advertise HTTP's <c>h2</c> and <c>http/1.1</c>).
    /// </summary>
    public IList<SslApplicationProtocol> ApplicationProtocols { get; } = new List<SslApplicationProtocol>();
}
