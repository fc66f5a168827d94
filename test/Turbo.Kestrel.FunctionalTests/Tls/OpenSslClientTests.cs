using System.Diagnostics;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.FunctionalTests.Tls;

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

        await using var server = TestServer.Start(Handlers.EchoLinesAsync, ssl: new SslOptions { CertFile = cert, KeyFile = key });
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tls11OnlyClient_IsRefused_AndATls12ClientIsServedAfterwards(bool explicitFloor)
    {
        using var certificates = new TestCertificates();
        var options = certificates.Options();
        if (explicitFloor)
        {
            options.Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        }

        var handled = 0;
        await using var server = TestServer.Start(async (stream, address) =>
        {
            Interlocked.Increment(ref handled);
            await Handlers.EchoLinesAsync(stream, address);
        }, ssl: options);

        // SECLEVEL=0 lets this OpenSSL 3 client offer TLS 1.1 at all: it really sends a TLS 1.1 ClientHello.
        using (var old = Start($"s_client -tls1_1 -cipher DEFAULT@SECLEVEL=0 -connect 127.0.0.1:{server.Port} -servername localhost"))
        {
            old.StandardInput.Close();
            var errors = old.StandardError.ReadToEndAsync();
            var output = await old.StandardOutput.ReadToEndAsync().Within();
            await old.WaitForExitAsync().Within();

            Assert.NotEqual(0, old.ExitCode);
            Assert.Contains("Cipher is (NONE)", output, StringComparison.Ordinal);
            Assert.Contains("no peer certificate available", output, StringComparison.Ordinal);

            // The refusal is the server's TLS alert, not the client giving up on its own. With the operating system's
            // default the alert is handshake_failure (40) here, which depends on the OpenSSL policy; an explicit floor
            // gives protocol_version (70).
            var error = await errors.Within();
            Assert.Contains("SSL alert number", error, StringComparison.Ordinal);
            if (explicitFloor)
            {
                Assert.Contains("alert protocol version", error, StringComparison.Ordinal);
            }
        }

        // The server saw a handshake and refused it (Kestrel's "authentication failed", Debug), quietly.
        var failed = await server.Logs.WaitForAsync(e => e.Category.Contains("HttpsConnectionMiddleware", StringComparison.Ordinal) && e.EventId.Id == 1);
        Assert.Equal(LogLevel.Debug, failed.Level);
        Assert.Equal(0, Volatile.Read(ref handled));

        await using var client = await TlsClient.ConnectAsync(server.EndPoint, SslProtocols.Tls12);
        await client.SendAsync("after the refusal\n");
        Assert.Equal("after the refusal\n", await client.ReadLineAsync());
        Assert.Equal(1, Volatile.Read(ref handled));
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= LogLevel.Warning);
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
        await using var server = TestServer.Start(Handlers.EchoLinesAsync, ssl: new SslOptions { CertFile = pfx, Password = "pw" });
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

    private static Process Start(string arguments) => Process.Start(new ProcessStartInfo(RequiredTool.Find("openssl", debianPackage: "openssl"), arguments)
    {
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    }) ?? throw new InvalidOperationException("openssl did not start.");
}
