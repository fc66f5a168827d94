namespace Turbo.Kestrel.Tls;

/// <summary>
/// A server's current certificate, shared by every listener it has ever started: replacing it (rotation) reaches
/// all of them, whatever TLS settings each listener started with.
/// </summary>
internal sealed class CertificateSlot(ServerCertificate certificate)
{
    private volatile ServerCertificate _current = certificate;

    public ServerCertificate Current
    {
        get => _current;
        set => _current = value;
    }
}
