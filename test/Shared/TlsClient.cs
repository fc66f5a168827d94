using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Turbo.Kestrel.Testing;

/// <summary>A TLS client over a plain socket, trusting the tests' self-signed CN=localhost server certificate.</summary>
internal sealed class TlsClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly StreamReader _reader;

    private TlsClient(TcpClient tcp, SslStream ssl)
    {
        _tcp = tcp;
        Ssl = ssl;
        _reader = new StreamReader(ssl, Encoding.UTF8, leaveOpen: true);
    }

    public SslStream Ssl { get; }

    public static async Task<TlsClient> ConnectAsync(EndPoint endPoint, SslProtocols protocols = SslProtocols.None,
        X509Certificate2? clientCertificate = null, List<SslApplicationProtocol>? alpn = null, string host = "localhost")
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync((IPEndPoint)endPoint).WaitAsync(Timeouts.Default);
        var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = protocols,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Subject == "CN=localhost",
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
            ApplicationProtocols = alpn,
        };
        try
        {
            using var timeout = new CancellationTokenSource(Timeouts.Default);
            await ssl.AuthenticateAsClientAsync(options, timeout.Token);
        }
        catch
        {
            await ssl.DisposeAsync();
            tcp.Dispose();
            throw;
        }

        return new TlsClient(tcp, ssl);
    }

    public async Task SendAsync(string text)
    {
        await Ssl.WriteAsync(Encoding.UTF8.GetBytes(text)).AsTask().Within();
        await Ssl.FlushAsync().Within();
    }

    public async Task<string> ReadLineAsync() => (await _reader.ReadLineAsync().Within() ?? throw new EndOfStreamException()) + "\n";

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await Ssl.DisposeAsync();
        _tcp.Dispose();
    }
}
