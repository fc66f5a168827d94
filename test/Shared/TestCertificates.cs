using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Turbo.Kestrel.Testing;

/// <summary>Self-signed certificates made at test time and written as PEM (and PFX) files into a temp folder.</summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly TempDirectory _dir = new();

    public TestCertificates()
    {
        Server = Create("CN=localhost", serverAuth: true);
        Client = Create("CN=turbo-client", serverAuth: false);
        OtherKey = RSA.Create(2048);
        CertFile = _dir.File("server.crt");
        KeyFile = _dir.File("server.key");
        File.WriteAllText(CertFile, Server.ExportCertificatePem());
        File.WriteAllText(KeyFile, Server.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    public X509Certificate2 Server { get; }

    public X509Certificate2 Client { get; }

    public RSA OtherKey { get; }

    public string CertFile { get; }

    public string KeyFile { get; }

    public string Path(string name) => _dir.File(name);

    public string Write(string name, string text)
    {
        var path = _dir.File(name);
        File.WriteAllText(path, text);
        return path;
    }

    public string WritePfx(string name, string password)
    {
        var path = _dir.File(name);
        File.WriteAllBytes(path, Server.Export(X509ContentType.Pfx, password));
        return path;
    }

    public string WriteEncryptedKey(string name, string password) => Write(name, Server.GetRSAPrivateKey()!.ExportEncryptedPkcs8PrivateKeyPem(
        password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000)));

    public SslOptions Options() => new() { CertFile = CertFile, KeyFile = KeyFile };

    public void Dispose()
    {
        Server.Dispose();
        Client.Dispose();
        OtherKey.Dispose();
        _dir.Dispose();
    }

    private static X509Certificate2 Create(string subject, bool serverAuth)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], critical: false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        // Round-trip through PFX so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }
}
