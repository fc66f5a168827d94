using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Tls;

/// <summary>TLS on Kestrel's middleware: certificates made at test time, real SslStream clients on 127.0.0.1.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Tls_EchoesAndReportsWhatWasNegotiated(SslProtocols protocol)
    {
        var info = new TaskCompletionSource<SslInfo?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, address) =>
        {
            info.TrySetResult(stream.Tls);
            await Handlers.EchoLinesAsync(stream, address);
        }, ssl: _certificates.Options());
        await using var client = await TlsClient.ConnectAsync(server.EndPoint, protocol);

        await client.SendAsync("secret\n");

        Assert.Equal("secret\n", await client.ReadLineAsync());
        var tls = Assert.IsType<SslInfo>(await info.Task.Within());
        Assert.Equal(protocol, tls.Protocol);
        Assert.Equal("localhost", tls.HostName);
        Assert.Null(tls.ClientCertificate);
    }

    [Fact]
    public async Task CloseWithALargeWritePending_ThenReturning_DeliversEveryByteThenCloseNotify()
    {
        const int Size = 4 * 1024 * 1024;
        await using var server = TestServer.Start(async (stream, _) =>
        {
            // Close while the write still waits for the client, then return at once: the close and the end of the
            // handler both end the TLS session, and the second must not cut the first short.
            var writing = stream.WriteAsync(new byte[Size]);
            stream.Close();
            await writing;
        }, ssl: _certificates.Options());
        await using var client = await TlsClient.ConnectAsync(server.EndPoint);

        var buffer = new byte[64 * 1024];
        long received = 0;
        int read;
        while ((read = await client.Ssl.ReadAsync(buffer).AsTask().Within()) > 0)
        {
            received += read;
        }

        Assert.Equal(Size, received);
    }

    [Fact]
    public async Task Tls_EncryptedPemKeyAndPfxWithPasswords_Load()
    {
        var encrypted = new SslOptions { CertFile = _certificates.CertFile, KeyFile = _certificates.WriteEncryptedKey("enc.key", "s3cret"), Password = "s3cret" };
        var pfx = new SslOptions { CertFile = _certificates.WritePfx("server.pfx", "pfx-pass"), Password = "pfx-pass" };

        foreach (var options in new[] { encrypted, pfx })
        {
            await using var server = TestServer.Start(Handlers.EchoLinesAsync, ssl: options);
            await using var client = await TlsClient.ConnectAsync(server.EndPoint);
            await client.SendAsync("loaded\n");
            Assert.Equal("loaded\n", await client.ReadLineAsync());
        }
    }

    [Fact]
    public void BadCertificates_FailAtConstructionNamingTheFileAndTheReason()
    {
        var garbage = _certificates.Write("garbage.crt", "not a certificate");
        var otherKey = _certificates.Write("other.key", _certificates.OtherKey.ExportPkcs8PrivateKeyPem());
        var missing = _certificates.Path("missing.crt");

        var noFile = Assert.Throws<FileNotFoundException>(() => Construct(new SslOptions { CertFile = missing, KeyFile = _certificates.KeyFile }));
        var noKeyFile = Assert.Throws<FileNotFoundException>(() => Construct(new SslOptions { CertFile = _certificates.CertFile, KeyFile = missing }));
        var badPem = Assert.Throws<InvalidOperationException>(() => Construct(new SslOptions { CertFile = garbage, KeyFile = _certificates.KeyFile }));
        var mismatch = Assert.Throws<InvalidOperationException>(() => Construct(new SslOptions { CertFile = _certificates.CertFile, KeyFile = otherKey }));
        var noKey = Assert.Throws<InvalidOperationException>(() => Construct(new SslOptions { CertFile = _certificates.CertFile }));
        var noCert = Assert.Throws<InvalidOperationException>(() => Construct(new SslOptions()));

        Assert.Contains(missing, noFile.Message, StringComparison.Ordinal);
        Assert.Contains(missing, noKeyFile.Message, StringComparison.Ordinal);
        Assert.Contains(garbage, badPem.Message, StringComparison.Ordinal);
        Assert.Contains(otherKey, mismatch.Message, StringComparison.Ordinal);
        Assert.Contains(_certificates.CertFile, noKey.Message, StringComparison.Ordinal);
        Assert.Contains("CertFile", noCert.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlaintextClient_OnTheTlsPort_IsDroppedQuietlyBesideAWorkingTlsClient()
    {
        var handled = 0;
        await using var server = TestServer.Start(async (stream, address) =>
        {
            Interlocked.Increment(ref handled);
            await Handlers.EchoLinesAsync(stream, address);
        }, ssl: _certificates.Options());
        await using var good = await TlsClient.ConnectAsync(server.EndPoint);

        await using (var plain = await TestClient.ConnectAsync(server.EndPoint))
        {
            await plain.SendAsync("hello in the clear\n");
            await plain.ReadToEndAsync().Within();
        }

        await good.SendAsync("unaffected\n");
        Assert.Equal("unaffected\n", await good.ReadLineAsync());
        Assert.Equal(1, Volatile.Read(ref handled));
        var failed = await server.Logs.WaitForAsync(e => e.Category.Contains("HttpsConnectionMiddleware", StringComparison.Ordinal) && e.EventId.Id == 1);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, failed.Level);
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task FailedHandshake_DoesNotKeepTheListenerAliveAfterStop()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync, ssl: _certificates.Options());
        await using (var plain = await TestClient.ConnectAsync(server.EndPoint))
        {
            await plain.SendAsync("not tls\n");
            await plain.ReadToEndAsync().Within();
        }

        await server.Logs.WaitForAsync(e => e.EventId.Name == "ConnectionStop");
        server.Server.Stop();

        // The failed connection was not left counted as open: its Kestrel instance (and timer thread) stopped by itself,
        // so a drain finds nothing to wait for.
        await server.Server.StopAsync(TimeSpan.FromMinutes(1)).Within();
        Assert.DoesNotContain(server.Logs.Entries, e => e.EventId.Name == "Draining");
    }

    [Fact]
    public async Task StopAsync_With50StalledHandshakes_EndsThemAtTheDrainDeadline_AndEveryClientSeesTheEnd()
    {
        const int Stalled = 50;
        var drain = TimeSpan.FromSeconds(1);
        var options = _certificates.Options();

        // Far beyond the drain deadline: what ends the handshakes is the stop, not their own timeout.
        options.HandshakeTimeout = TimeSpan.FromMinutes(1);
        var handled = 0;
        var test = TestServer.Create((_, _) =>
        {
            Interlocked.Increment(ref handled);
            return Task.CompletedTask;
        }, ssl: options);
        await using var _ = test;
        test.Server.Listen(0, "127.0.0.1", backlog: 128);
        var clients = await Task.WhenAll(Enumerable.Range(0, Stalled).Select(_ => test.ConnectAsync())).Within();

        // Every one accepted and waiting in its handshake, none in the backlog.
        await Timeouts.UntilAsync(() => test.Server.Dispatcher.Watchdog.ActiveConnections == Stalled, $"{Stalled} connections in their handshake");
        var started = System.Diagnostics.Stopwatch.StartNew();
        await test.Server.StopAsync(drain).Within();
        var elapsed = started.Elapsed;

        Assert.True(elapsed < drain + TimeSpan.FromSeconds(2), $"StopAsync took {elapsed} with a drain deadline of {drain}");
        var ends = await Task.WhenAll(clients.Select(async c =>
        {
            await using (c)
            {
                return await c.ReadToEndAsync();
            }
        })).Within();
        Assert.All(ends, end => Assert.Empty(end.Data));
        Assert.Equal(0, test.Server.Dispatcher.Watchdog.ActiveConnections);
        Assert.Equal(0, Volatile.Read(ref handled));
        Assert.DoesNotContain(test.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    [Fact]
    public async Task HandlerThatWritesFirst_IsHeard()
    {
        await using var server = TestServer.Start(async (stream, _) =>
        {
            await stream.WriteAsync("welcome\n");
            await stream.WriteAsync(await stream.ReadUntilAsync("\n"));
        }, ssl: _certificates.Options());
        await using var client = await TlsClient.ConnectAsync(server.EndPoint);

        Assert.Equal("welcome\n", await client.ReadLineAsync());
        await client.SendAsync("reply\n");
        Assert.Equal("reply\n", await client.ReadLineAsync());
    }

    [Fact]
    public async Task RequiredClientCertificate_IsAcceptedWhenValid_AndRefusedWhenMissingOrRejected_BeforeTheHandler()
    {
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlers = 0;
        var options = _certificates.Options();
        options.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
        options.ClientCertificateValidation = (certificate, _, _) => certificate.Subject == "CN=turbo-client";
        await using var server = TestServer.Start(async (stream, address) =>
        {
            Interlocked.Increment(ref handlers);
            seen.TrySetResult(stream.Tls?.ClientCertificate?.Subject);
            await Handlers.EchoLinesAsync(stream, address);
        }, ssl: options);

        await using (var accepted = await TlsClient.ConnectAsync(server.EndPoint, clientCertificate: _certificates.Client))
        {
            await accepted.SendAsync("with certificate\n");
            Assert.Equal("with certificate\n", await accepted.ReadLineAsync());
        }

        Assert.Equal("CN=turbo-client", await seen.Task.Within());
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var refused = await TlsClient.ConnectAsync(server.EndPoint);
            await refused.SendAsync("without\n");
            await refused.ReadLineAsync();
        });

        // A certificate the validation callback rejects (the server's own, not CN=turbo-client) is refused too.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var rejected = await TlsClient.ConnectAsync(server.EndPoint, clientCertificate: _certificates.Server);
            await rejected.SendAsync("wrong certificate\n");
            await rejected.ReadLineAsync();
        });

        Assert.Equal(1, Volatile.Read(ref handlers));
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task HandshakeTimeout_ClosesASilentClient()
    {
        var options = _certificates.Options();
        options.HandshakeTimeout = TimeSpan.FromMilliseconds(300);
        await using var server = TestServer.Start(Handlers.EchoLinesAsync, ssl: options);
        await using var silent = await TestClient.ConnectAsync(server.EndPoint);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var (data, _) = await silent.ReadToEndAsync().Within();

        Assert.Empty(data);
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(250), $"closed after {started.Elapsed}, before the handshake timeout");
        var timedOut = await server.Logs.WaitForAsync(e => e.Category.Contains("HttpsConnectionMiddleware", StringComparison.Ordinal) && e.EventId.Id == 2);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, timedOut.Level);
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task Alpn_NoneAdvertisedByDefault_ClientOfferingAListStillConnects()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync, ssl: _certificates.Options());

        await using var client = await TlsClient.ConnectAsync(server.EndPoint, alpn: [new SslApplicationProtocol("foo"), SslApplicationProtocol.Http2]);

        Assert.Equal(default, client.Ssl.NegotiatedApplicationProtocol);
        await client.SendAsync("no alpn\n");
        Assert.Equal("no alpn\n", await client.ReadLineAsync());
    }

    [Fact]
    public async Task Alpn_AdvertisedListIsNegotiated()
    {
        var options = _certificates.Options();
        options.ApplicationProtocols.Add(new SslApplicationProtocol("turbo/1"));
        await using var server = TestServer.Start(Handlers.EchoLinesAsync, ssl: options);

        await using var client = await TlsClient.ConnectAsync(server.EndPoint, alpn: [new SslApplicationProtocol("turbo/1")]);

        Assert.Equal("turbo/1", client.Ssl.NegotiatedApplicationProtocol.ToString());
    }

    [Fact]
    public async Task MaxBufferSize_IsEnforcedOnTlsConnections()
    {
        var failure = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            try
            {
                await stream.ReadUntilAsync("\n");
            }
            catch (StreamClosedException ex)
            {
                failure.TrySetResult(ex);
            }
        }, maxBufferSize: 1024, ssl: _certificates.Options());
        await using var client = await TlsClient.ConnectAsync(server.EndPoint);

        await client.SendAsync(new string('x', 4096));

        Assert.IsType<StreamBufferFullException>((await failure.Task.Within()).InnerException);
    }

    private static void Construct(SslOptions options)
    {
        var (loop, _, _) = TestServer.NewLoop();
        _ = new DelegateServer(Handlers.EchoLinesAsync, loop, ssl: options);
    }
}
