using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Turbo.Kestrel.Tls;

/// <summary>
/// The certificate a TLS server presents, loaded from <see cref="SslOptions"/> when the server is configured, so
/// that every problem (a missing file, bad PEM, a key that does not match, no private key) surfaces there, with the
/// file and the reason in the message, as Turbo's <c>ssl_options</c> do.
/// </summary>
internal sealed class ServerCertificate
{
    private ServerCertificate(X509Certificate2 certificate, X509Certificate2Collection chain)
    {
        Certificate = certificate;
        Chain = chain;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Intermediate certificates that followed the leaf in the PEM file.</summary>
    public X509Certificate2Collection Chain { get; }

    /// <summary>What SslStream presents: the certificate and its chain, built once.</summary>
    public SslStreamCertificateContext Context => field ??= SslStreamCertificateContext.Create(Certificate, Chain, offline: true);

    /// <exception cref="FileNotFoundException">A file does not exist; the message names it.</exception>
    /// <exception cref="InvalidOperationException">The files cannot be used; the message names them and says why.</exception>
    public static ServerCertificate Load(SslOptions options)
    {
        var certFile = options.CertFile;
        if (string.IsNullOrWhiteSpace(certFile))
        {
            throw new InvalidOperationException("SslOptions.CertFile is required: the PEM certificate (or .pfx/.p12 file) the server presents.");
        }

        RequireFile(certFile, "certificate");
        if (options.KeyFile is { } givenKeyFile)
        {
            RequireFile(givenKeyFile, "key");
        }

        X509Certificate2 certificate;
        var chain = new X509Certificate2Collection();
        try
        {
            if (IsPkcs12(certFile))
            {
                // The leaf is the one with the private key; the others are its chain, sent with it.
                var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(certFile, options.Password);
                certificate = all.FirstOrDefault(c => c.HasPrivateKey) ?? all[0];
                chain.AddRange(all.Where(c => !ReferenceEquals(c, certificate)).ToArray());
            }
            else
            {
                var keyFile = options.KeyFile ?? certFile;
                certificate = options.Password is null
                    ? X509Certificate2.CreateFromPemFile(certFile, keyFile)
                    : X509Certificate2.CreateFromEncryptedPemFile(certFile, options.Password, keyFile);
                chain.ImportFromPemFile(certFile);
                chain.RemoveAt(0);
            }
        }
        catch (Exception ex) when (ex is CryptographicException or UnauthorizedAccessException or IOException)
        {
            throw new InvalidOperationException($"Cannot load the TLS certificate {Describe(options)}: {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            throw new InvalidOperationException($"Cannot use the TLS certificate {Describe(options)}: it has no private key.");
        }

        return new ServerCertificate(certificate, chain);
    }

    private static bool IsPkcs12(string path) =>
        path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase);

    private static void RequireFile(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The TLS {what} file '{path}' does not exist.", path);
        }
    }

    private static string Describe(SslOptions options) =>
        options.KeyFile is null ? $"'{options.CertFile}'" : $"'{options.CertFile}' with key '{options.KeyFile}'";
}
