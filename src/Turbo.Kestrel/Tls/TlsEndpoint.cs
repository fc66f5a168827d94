using System.Net.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Turbo.Kestrel.Tls;

/// <summary>A server's TLS settings with the certificate already loaded, applied to each of its listeners.</summary>
internal sealed class TlsEndpoint(SslOptions options, ServerCertificate certificate)
{
    public SslOptions Options { get; } = options;

    /// <summary>Puts Kestrel's TLS middleware in front of the handler (it must come before it: middleware runs in order).</summary>
    public void Apply(ListenOptions listen)
    {
        var protocols = Options.ApplicationProtocols.ToList();
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate.Certificate,
            ServerCertificateChain = certificate.Chain.Count > 0 ? certificate.Chain : null,
            ClientCertificateMode = Options.ClientCertificateMode,
            ClientCertificateValidation = Options.ClientCertificateValidation,
            SslProtocols = Options.Protocols,
            HandshakeTimeout = Options.HandshakeTimeout,
            OnAuthenticate = protocols.Count == 0
                ? null
                : (_, authentication) => authentication.ApplicationProtocols = new List<SslApplicationProtocol>(protocols),
        });
    }
}
