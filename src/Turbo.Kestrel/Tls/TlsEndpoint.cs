using System.Net.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Turbo.Kestrel.Tls;

/// <summary>
/// A server's TLS settings, applied to each listener it starts. The certificate lives in a slot shared by all
/// of the server's listeners: each new handshake presents the slot's current certificate (rotation).
/// </summary>
internal sealed class TlsEndpoint(SslOptions options, CertificateSlot certificate)
{
    public SslOptions Options { get; } = options;

    public CertificateSlot Certificate { get; } = certificate;

    /// <summary>Puts Kestrel's TLS middleware in front of the handler (it must come before it: middleware runs in order).</summary>
    public void Apply(ListenOptions listen)
    {
        var protocols = Options.ApplicationProtocols.ToList();
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = Certificate.Current.Certificate,
            ServerCertificateChain = Certificate.Current.Chain,
            ClientCertificateMode = Options.ClientCertificateMode,
            ClientCertificateValidation = Options.ClientCertificateValidation,
            SslProtocols = Options.Protocols,
            HandshakeTimeout = Options.HandshakeTimeout,
            OnAuthenticate = (_, authentication) =>
            {
                // Runs last, per handshake: present the current certificate (rotation) with its chain.
                authentication.ServerCertificate = null;
                authentication.ServerCertificateSelectionCallback = null;
                authentication.ServerCertificateContext = Certificate.Current.Context;
                if (protocols.Count > 0)
                {
                    authentication.ApplicationProtocols = new List<SslApplicationProtocol>(protocols);
                }
            },
        });
    }
}
