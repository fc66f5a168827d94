using System.Diagnostics;
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

    private static Process Start(string arguments) => Process.Start(new ProcessStartInfo("openssl", arguments)
    {
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    }) ?? throw new InvalidOperationException("openssl did not start.");
}
