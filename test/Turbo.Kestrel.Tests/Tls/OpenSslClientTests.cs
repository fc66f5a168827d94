using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Turbo.Kestrel.Tests.Infrastructure;
using Turbo.Kestrel.Tests.Server;

namespace Turbo.Kestrel.Tests.Tls;

/// <summary>A real, independent TLS peer: <c>openssl s_client</c> (CI installs openssl) and openssl-made certificates.</summary>
public sealed class OpenSslClientTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task OpenSslClient_EchoesThroughAnOpenSslCertificate()
    {
        var cert = _dir.File("server.crt");
        var key = _dir.File("server.key");
        using (var make = Start($"req -x509 -newkey rsa:2048 -nodes -keyout {key} -out {cert} -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"))
        {
            make.StandardInput.Close();
            await make.WaitForExitAsync().Within();
            Assert.Equal(0, make.ExitCode);
        }

        await using var server = TestServer.Start(EchoTests.EchoLinesAsync, ssl: new SslOptions { CertFile = cert, KeyFile = key });
        using var client = Start($"s_client -connect 127.0.0.1:{server.Port} -servername localhost -quiet");

        await client.StandardInput.WriteAsync("hello from openssl\n");
        await client.StandardInput.FlushAsync();
        string? line;
        do
        {
            line = await client.StandardOutput.ReadLineAsync().Within();
        }
        while (line is not null && line != "hello from openssl");

        Assert.Equal("hello from openssl", line);

        // -quiet implies -ign_eof: s_client would stay connected; end it.
        client.Kill();
        await client.WaitForExitAsync().Within();
    }

    [Fact]
    public async Task PfxWithAnIntermediate_SendsTheChain()
    {
        using var root = System.Security.Cryptography.RSA.Create(2048);
        using var middle = System.Security.Cryptography.RSA.Create(2048);
        using var leafKey = System.Security.Cryptography.RSA.Create(2048);
        var now = DateTimeOffset.UtcNow;
        using var rootCert = Authority("CN=Turbo Test Root", root, null, now, days: 3);
        using var middleCert = Authority("CN=Turbo Test Intermediate", middle, rootCert, now, days: 2);
        var leafRequest = new System.Security.Cryptography.X509Certificates.CertificateRequest(
            "CN=localhost", leafKey, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var leafPublic = leafRequest.Create(middleCert, now.AddDays(-1), now.AddDays(1), [1, 2, 3]);
        using var leaf = leafPublic.CopyWithPrivateKey(leafKey);
        var pfx = _dir.File("chain.pfx");
        await File.WriteAllBytesAsync(pfx, new System.Security.Cryptography.X509Certificates.X509Certificate2Collection { leaf, middleCert }
            .Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx, "pw")!);
        await using var server = TestServer.Start(EchoTests.EchoLinesAsync, ssl: new SslOptions { CertFile = pfx, Password = "pw" });
        using var client = Start($"s_client -connect 127.0.0.1:{server.Port} -servername localhost -showcerts");

        client.StandardInput.Close();
        var output = await client.StandardOutput.ReadToEndAsync().Within();
        await client.WaitForExitAsync().Within();

        Assert.Equal(2, output.Split("-----BEGIN CERTIFICATE-----").Length - 1);
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 Authority(
        string subject, RSA key, X509Certificate2? issuer, DateTimeOffset now, int days)
    {
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(
            subject, key, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509KeyUsageExtension(
            System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.KeyCertSign, true));
        if (issuer is null)
        {
            return request.CreateSelfSigned(now.AddDays(-days), now.AddDays(days));
        }

        using var signed = request.Create(issuer, now.AddDays(-days), now.AddDays(days), [4, 5, 6]);
        return signed.CopyWithPrivateKey(key);
    }

    private static Process Start(string arguments) => Process.Start(new ProcessStartInfo("openssl", arguments)
    {
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    }) ?? throw new InvalidOperationException("openssl did not start.");
}
