namespace Turbo.Kestrel.Tls;

/// <summary>
/// A server's TLS: its settings, and the certificate every one of its listeners presents at the next handshake.
/// </summary>
/// <remarks>
/// Each listener applies the <see cref="Endpoint"/> current when it starts (Kestrel fixes the handshake settings
/// then), while the certificate is read per handshake, so replacing it (<see cref="Update"/> with other files, or
/// <see cref="ReloadCertificate"/> when the files changed on disk) reaches the running listeners too. Loading happens
/// first: a certificate that cannot be loaded throws and changes nothing.
/// </remarks>
internal sealed class ServerTls
{
    private volatile ServerCertificate _certificate;

    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidOperationException">The files cannot be used; the message says why.</exception>
    public ServerTls(SslOptions options)
    {
        _certificate = ServerCertificate.Load(options);
        Options = options;
        Endpoint = new TlsEndpoint(options, this);
    }

    /// <summary>The settings in force.</summary>
    public SslOptions Options { get; private set; }

    /// <summary>What a listener starting now applies.</summary>
    public TlsEndpoint Endpoint { get; private set; }

    /// <summary>The certificate the next handshake presents.</summary>
    public ServerCertificate Certificate => _certificate;

    /// <summary>
    /// Applies new settings: other certificate files are loaded and presented from the next handshake on, other
    /// handshake settings apply to listeners started from now on. The same settings change nothing.
    /// </summary>
    public void Update(SslOptions options)
    {
        var sameHandshake = SameHandshake(Options, options);
        if (sameHandshake && SameFiles(Options, options))
        {
            return;
        }

        _certificate = ServerCertificate.Load(options);
        if (!sameHandshake)
        {
            Endpoint = new TlsEndpoint(options, this);
        }

        Options = options;
    }

    /// <summary>Loads the certificate files again (they changed on disk) and presents them from the next handshake on.</summary>
    public void ReloadCertificate() => _certificate = ServerCertificate.Load(Options);

    private static bool SameFiles(SslOptions a, SslOptions b) =>
        a.CertFile == b.CertFile && a.KeyFile == b.KeyFile && a.Password == b.Password;

    /// <summary>Everything but the certificate files.</summary>
    private static bool SameHandshake(SslOptions a, SslOptions b) =>
        a.ClientCertificateMode == b.ClientCertificateMode && a.Protocols == b.Protocols && a.HandshakeTimeout == b.HandshakeTimeout
        && a.ClientCertificateValidation == b.ClientCertificateValidation && a.ApplicationProtocols.SequenceEqual(b.ApplicationProtocols);
}
