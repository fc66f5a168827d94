using System.Net.Security;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Turbo.Kestrel.Tls;

/// <summary>
/// The TLS settings a listener starts with. The certificate is not fixed here: each new handshake presents the
/// server's current one (<see cref="ServerTls.Certificate"/>), so rotation reaches running listeners.
/// </summary>
internal sealed class TlsEndpoint(SslOptions options, ServerTls server)
{
    public SslOptions Options { get; } = options;

    /// <summary>Puts Kestrel's TLS middleware in front of the handler (it must come before it: middleware runs in order).</summary>
    public void Apply(ListenOptions listen)
    {
        var protocols = Options.ApplicationProtocols.ToList();
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = server.Certificate.Certificate,
            ServerCertificateChain = server.Certificate.Chain,
            ClientCertificateMode = Options.ClientCertificateMode,
            ClientCertificateValidation = Options.ClientCertificateValidation,
            SslProtocols = Options.Protocols,
            HandshakeTimeout = Options.HandshakeTimeout,
            OnAuthenticate = (_, authentication) =>
            {
                // Runs last, per handshake: present the current certificate (rotation) with its chain.
                authentication.ServerCertificate = null;
                authentication.ServerCertificateSelectionCallback = null;
                authentication.ServerCertificateContext = server.Certificate.Context;
                if (protocols.Count > 0)
                {
                    authentication.ApplicationProtocols = new List<SslApplicationProtocol>(protocols);
                }
            },
        });
    }
}
