using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Turbo.Kestrel.Tests.Hosting;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Tls;

/// <summary>TLS from the Turbo:Servers:&lt;name&gt;:Ssl section, and certificate rotation while the host runs.</summary>
public sealed class HostedTlsTests : IDisposable
{
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Theory]
    [InlineData("tls://127.0.0.1:0")]
    [InlineData("tcp://127.0.0.1:0")] // an Ssl section makes every endpoint of the server TLS (SPEC §7)
    public async Task SslSection_ServesTlsOnTheServersEndpoints(string url)
    {
        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:Endpoints:Secure:Url"] = url,
            ["Turbo:Servers:Echo:Ssl:CertFile"] = _certificates.CertFile,
            ["Turbo:Servers:Echo:Ssl:KeyFile"] = _certificates.KeyFile,
            ["Turbo:Servers:Echo:Ssl:Protocols"] = "Tls13",
        }, out _);
        await host.StartAsync().Within();

        await using var client = await TlsClient.ConnectAsync(Server(host).LocalEndPoints[0]);
        await client.SendAsync("hosted tls\n");

        Assert.Equal("hosted tls\n", await client.ReadLineAsync());
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, client.Ssl.SslProtocol);
        await host.StopAsync().Within();
    }

    [Theory]
    [InlineData("missing.crt", "Turbo:Servers:Echo:Ssl")]
    [InlineData("garbage.crt", "Turbo:Servers:Echo:Ssl")]
    public async Task SslSection_BadCertificateFailsStartNamingTheKeyAndTheFile(string file, string key)
    {
        if (file == "garbage.crt")
        {
            _certificates.Write(file, "garbage");
        }

        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:Endpoints:Secure:Url"] = "tls://127.0.0.1:0",
            ["Turbo:Servers:Echo:Ssl:CertFile"] = _certificates.Path(file),
            ["Turbo:Servers:Echo:Ssl:KeyFile"] = _certificates.KeyFile,
        }, out _);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().Within());

        Assert.StartsWith(key, error.Message, StringComparison.Ordinal);
        Assert.Contains(_certificates.Path(file), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Turbo:Servers:Echo:Endpoints:Secure:Url", "tls://127.0.0.1:0", "Turbo:Servers:Echo:Endpoints:Secure:Url")]
    [InlineData("Turbo:Servers:Echo:Ssl:ClientCertificateMode", "Sometimes", "Turbo:Servers:Echo:Ssl:ClientCertificateMode")]
    [InlineData("Turbo:Servers:Echo:Ssl:HandshakeTimeout", "soon", "Turbo:Servers:Echo:Ssl:HandshakeTimeout")]
    [InlineData("Turbo:Servers:Echo:Ssl:Cipher", "x", "Turbo:Servers:Echo:Ssl:Cipher")]
    public async Task SslSection_BadValuesFailStartNamingTheKey(string setting, string value, string named)
    {
        var settings = new Dictionary<string, string?> { [setting] = value };
        if (!setting.Contains(":Url", StringComparison.Ordinal))
        {
            settings["Turbo:Servers:Echo:Ssl:CertFile"] = _certificates.CertFile;
        }

        using var host = BuildHost(settings, out _);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.StartsWith(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CertificateFilesReplacedOnDisk_NewConnectionsGetTheNewCertificate()
    {
        using var host = BuildHost(new()
        {
            ["Turbo:Servers:Echo:Endpoints:Secure:Url"] = "tls://127.0.0.1:0",
            ["Turbo:Servers:Echo:Ssl:CertFile"] = _certificates.CertFile,
            ["Turbo:Servers:Echo:Ssl:KeyFile"] = _certificates.KeyFile,
        }, out var logs);
        await host.StartAsync().Within();
        var endPoint = Server(host).LocalEndPoints[0];
        Assert.Equal(_certificates.Server.Thumbprint, await ServedThumbprintAsync(endPoint));

        await ReplaceCertificateAndExpectItServedAsync(logs, endPoint);
        await host.StopAsync().Within();
    }

    [Fact]
    public async Task CertificateRotation_StillReachesRunningEndpointsAfterHandshakeSettingsChanged()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Turbo:Servers:Echo:Endpoints:Secure:Url"] = "tls://127.0.0.1:0",
            ["Turbo:Servers:Echo:Ssl:CertFile"] = _certificates.CertFile,
            ["Turbo:Servers:Echo:Ssl:KeyFile"] = _certificates.KeyFile,
        };
        using var host = BuildHost(settings, out var logs, out var config);
        await host.StartAsync().Within();
        var endPoint = Server(host).LocalEndPoints[0];

        settings["Turbo:Servers:Echo:Ssl:HandshakeTimeout"] = "00:00:05";
        config.Replace(settings);

        await ReplaceCertificateAndExpectItServedAsync(logs, endPoint);
        await host.StopAsync().Within();
    }

    /// <summary>Replaces the certificate files on disk and checks that a new connection gets the new certificate.</summary>
    private async Task ReplaceCertificateAndExpectItServedAsync(LogSink logs, System.Net.EndPoint endPoint)
    {
        using var replacement = new TestCertificates();

        // Key first, then certificate: in between the pair does not match, which is logged and changes nothing.
        File.Copy(replacement.KeyFile, _certificates.KeyFile, overwrite: true);
        File.Copy(replacement.CertFile, _certificates.CertFile, overwrite: true);

        await logs.WaitForAsync(e => e.EventId.Name == "CertificateReloaded");
        Assert.Equal(replacement.Server.Thumbprint, await ServedThumbprintAsync(endPoint));
    }

    private static async Task<string> ServedThumbprintAsync(System.Net.EndPoint endPoint)
    {
        await using var client = await TlsClient.ConnectAsync(endPoint);
        using var certificate = new X509Certificate2(client.Ssl.RemoteCertificate!);
        return certificate.Thumbprint;
    }

    private static TcpServer Server(IHost host) => host.Services.GetRequiredKeyedService<TcpServer>("Echo");

    private static IHost BuildHost(Dictionary<string, string?> settings, out LogSink logs) => BuildHost(settings, out logs, out _);

    private static IHost BuildHost(Dictionary<string, string?> settings, out LogSink logs, out ReloadableConfiguration config)
    {
        var builder = ReloadableConfiguration.HostBuilder(settings, out config);
        logs = new LogSink();
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.UseTurboTcp().AddServer<HostedEchoServer>("Echo");
        return builder.Build();
    }
}
