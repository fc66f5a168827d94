// TLS line echo: Turbo.Kestrel (TcpServer + SslOptions) against a hand-written Kestrel UseHttps + connection
// handler, in one run. Servers and client share this process (loadgen cannot speak TLS); the ratios compare the
// two servers under the same client. Usage: dotnet TlsBench.dll [--seconds 5] [--connections 32] [--rounds 3]
using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Turbo.Kestrel;

var seconds = Option("--seconds", 5);
var connections = Option("--connections", 32);
var rounds = Option("--rounds", 3);

using var key = RSA.Create(2048);
var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
var dir = Directory.CreateTempSubdirectory("tlsbench").FullName;
File.WriteAllText(Path.Combine(dir, "s.crt"), certificate.ExportCertificatePem());
File.WriteAllText(Path.Combine(dir, "s.key"), key.ExportPkcs8PrivateKeyPem());

await using var loop = new IOLoop(new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddLogging().BuildServiceProvider());
var turbo = new TlsEchoServer(loop, new SslOptions { CertFile = Path.Combine(dir, "s.crt"), KeyFile = Path.Combine(dir, "s.key") });
turbo.Listen(0, "127.0.0.1");
var turboEndPoint = (IPEndPoint)turbo.LocalEndPoints[0];

var raw = RawKestrel.Start(X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null));
var rawEndPoint = raw.EndPoint;

var results = new Dictionary<string, List<double>>();
for (var round = 0; round < rounds; round++)
{
    foreach (var (name, endPoint) in new[] { ("turbo", turboEndPoint), ("kestrel-https", rawEndPoint) })
    {
        Add($"{name} handshakes/s", await HandshakesAsync(endPoint, seconds, connections));
        Add($"{name} lines/s", await EchoAsync(endPoint, seconds, connections));
    }
}

Console.WriteLine($"TLS 1.3 line echo, {connections} concurrent clients, {seconds} s per cell, {rounds} interleaved rounds (median):");
Console.WriteLine("| measure | turbo | kestrel-https | ratio |");
Console.WriteLine("|---|---:|---:|---:|");
foreach (var measure in new[] { "handshakes/s", "lines/s" })
{
    var t = Median(results[$"turbo {measure}"]);
    var k = Median(results[$"kestrel-https {measure}"]);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {measure} | {t:N0} | {k:N0} | {t / k:F2} |"));
}

await turbo.StopAsync(TimeSpan.Zero);
await raw.Server.StopAsync(CancellationToken.None);
Directory.Delete(dir, recursive: true);

void Add(string name, double value) => (results.TryGetValue(name, out var list) ? list : results[name] = []).Add(value);

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

static async Task<double> HandshakesAsync(IPEndPoint endPoint, int seconds, int clients)
{
    var line = "ping\n"u8.ToArray();
    long done = 0;
    var stop = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
    {
        var buffer = new byte[64];
        while (stop.Elapsed.TotalSeconds < seconds)
        {
            await using var ssl = await ConnectAsync(endPoint);
            await ssl.WriteAsync(line);
            await ssl.ReadExactlyAsync(buffer.AsMemory(0, line.Length));
            Interlocked.Increment(ref done);
        }
    })));
    return done / stop.Elapsed.TotalSeconds;
}

static async Task<double> EchoAsync(IPEndPoint endPoint, int seconds, int clients)
{
    const int Depth = 16;
    var line = new byte[64];
    Array.Fill(line, (byte)'x');
    line[^1] = (byte)'\n';
    var batch = Enumerable.Repeat(line, Depth).SelectMany(b => b).ToArray();
    long done = 0;
    var streams = await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => ConnectAsync(endPoint)));
    var stop = Stopwatch.StartNew();
    await Task.WhenAll(streams.Select(ssl => Task.Run(async () =>
    {
        var buffer = new byte[batch.Length];
        while (stop.Elapsed.TotalSeconds < seconds)
        {
            await ssl.WriteAsync(batch);
            await ssl.ReadExactlyAsync(buffer);
            Interlocked.Add(ref done, Depth);
        }
    })));
    var rate = done / stop.Elapsed.TotalSeconds;
    foreach (var ssl in streams)
    {
        await ssl.DisposeAsync();
    }

    return rate;
}

static async Task<SslStream> ConnectAsync(IPEndPoint endPoint)
{
    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    await socket.ConnectAsync(endPoint);
    var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
    await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
    {
        TargetHost = "localhost",
        EnabledSslProtocols = SslProtocols.Tls13,
        RemoteCertificateValidationCallback = (_, _, _, _) => true,
    });
    return ssl;
}

/// <summary>The Turbo.Kestrel side: EchoHost's handler, over TLS.</summary>
internal sealed class TlsEchoServer(IOLoop loop, SslOptions ssl) : TcpServer(loop, ssl)
{
    protected override async Task HandleStreamAsync(IOStream stream, string address)
    {
        try
        {
            while (true)
            {
                await stream.WriteAsync(await stream.ReadUntilAsync("\n"));
            }
        }
        catch (StreamClosedException)
        {
        }
    }
}

/// <summary>The peer: Kestrel's UseHttps in front of a hand-written PipeReader + SequenceReader line echo.</summary>
internal sealed record RawKestrel(KestrelServer Server, IPEndPoint EndPoint)
{
    public static RawKestrel Start(X509Certificate2 certificate)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        var services = builder.Build().Services;
        var options = new KestrelServerOptions { ApplicationServices = services };
        ListenOptions? listen = null;
        options.Listen(IPAddress.Loopback, 0, l =>
        {
            listen = l;
            l.Protocols = HttpProtocols.None;
            l.UseHttps(certificate);
            l.Run(EchoAsync);
        });
        var server = new KestrelServer(Microsoft.Extensions.Options.Options.Create(options),
            new Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportFactory(
                Microsoft.Extensions.Options.Options.Create(new Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions()),
                Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        server.StartAsync(new NoApp(), CancellationToken.None).GetAwaiter().GetResult();
        return new RawKestrel(server, listen!.IPEndPoint!);
    }

    private static async Task EchoAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        while (true)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            while (reader.TryReadTo(out ReadOnlySequence<byte> lineBody, (byte)'\n'))
            {
                foreach (var segment in lineBody)
                {
                    output.Write(segment.Span);
                }

                output.Write("\n"u8);
            }

            input.AdvanceTo(reader.Position, buffer.End);
            await output.FlushAsync();
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    private sealed class NoApp : Microsoft.AspNetCore.Hosting.Server.IHttpApplication<object>
    {
        public object CreateContext(Microsoft.AspNetCore.Http.Features.IFeatureCollection contextFeatures) => new();

        public Task ProcessRequestAsync(object context) => Task.CompletedTask;

        public void DisposeContext(object context, Exception? exception)
        {
        }
    }
}
