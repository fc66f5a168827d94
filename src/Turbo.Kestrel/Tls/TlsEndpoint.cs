using System.Net.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Turbo.Kestrel.Tls;

/// <summary>
/// A server's TLS settings with the certificate already loaded, applied to each of its listeners. The certificate
/// can be replaced while the server runs (<see cref="Rotate"/>): each new handshake picks the current one.
/// </summary>
internal sealed class TlsEndpoint(SslOptions options, ServerCertificate certificate)
{
    private volatile ServerCertificate _certificate = certificate;

    public SslOptions Options { get; } = options;

    /// <summary>New connections use <paramref name="next"/>; connections already made keep theirs.</summary>
    public void Rotate(ServerCertificate next) => _certificate = next;

    /// <summary>Puts Kestrel's TLS middleware in front of the handler (it must come before it: middleware runs in order).</summary>
    public void Apply(ListenOptions listen)
    {
        var protocols = Options.ApplicationProtocols.ToList();
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = _certificate.Certificate,
            ClientCertificateMode = Options.ClientCertificateMode,
            ClientCertificateValidation = Options.ClientCertificateValidation,
            SslProtocols = Options.Protocols,
            HandshakeTimeout = Options.HandshakeTimeout,
            OnAuthenticate = (_, authentication) =>
            {
                // Runs last, per handshake: present the current certificate (rotation) with its chain.
                authentication.ServerCertificate = null;
                authentication.ServerCertificateSelectionCallback = null;
                authentication.ServerCertificateContext = _certificate.Context;
                if (protocols.Count > 0)
                {
                    authentication.ApplicationProtocols = new List<SslApplicationProtocol>(protocols);
                }
            },
        });
    }
}
