using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Turbo.Kestrel.Proxy;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Proxy;

/// <summary>The PROXY header timeout on the loop's clock: a header complete one tick before it is taken, none at it is not.</summary>
public class ProxyHeaderTimeoutTests
{
    private static readonly TimeSpan HeaderTimeout = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task NoHeaderAtTheTimeout_ClosesBeforeTheHandler_NotATickEarlier()
    {
        var (middleware, time) = Create();
        var (connection, client) = Connection();
        var handlerRan = false;

        var run = middleware.OnConnectionAsync(connection, _ =>
        {
            handlerRan = true;
            return Task.CompletedTask;
        });
        await client.WriteAsync(new byte[] { 0x0D, 0x0A, 0x0D, 0x0A });
        time.Advance(HeaderTimeout - TimeSpan.FromTicks(1));
        Assert.False(run.IsCompleted);

        time.Advance(TimeSpan.FromTicks(1));
        await run.Within();
        Assert.False(handlerRan);
    }

    [Fact]
    public async Task AHeaderCompleteJustBeforeTheTimeout_ReachesTheHandler()
    {
        var (middleware, time) = Create();
        var (connection, client) = Connection();
        var source = new TaskCompletionSource<EndPoint?>(TaskCreationOptions.RunContinuationsAsynchronously);

        var run = middleware.OnConnectionAsync(connection, c =>
        {
            source.TrySetResult(c.RemoteEndPoint);
            return Task.CompletedTask;
        });
        time.Advance(HeaderTimeout - TimeSpan.FromTicks(1));
        await client.WriteAsync("PROXY TCP4 203.0.113.7 10.0.0.1 4242 7000\r\n"u8.ToArray());

        Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 4242), await source.Task.Within());
        await run.Within();
    }

    private static (ProxyProtocolMiddleware Middleware, FakeTimeProvider Time) Create()
    {
        var time = new FakeTimeProvider();
        var options = new ProxyProtocolOptions { Mode = ProxyProtocolMode.Any, HeaderTimeout = HeaderTimeout };
        options.TrustedProxies.Add(IPNetwork.Parse("127.0.0.0/8"));
        return (new ProxyProtocolMiddleware(options, NullLogger.Instance, time), time);
    }

    private static (ConnectionContext Connection, PipeWriter Client) Connection()
    {
        // The middleware runs inline with the test's writes and clock steps, so "not completed" is a real observation.
        var toServer = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var fromServer = new Pipe();
        var connection = new DefaultConnectionContext("proxy-test", new Duplex(toServer.Reader, fromServer.Writer), new Duplex(fromServer.Reader, toServer.Writer))
        {
            RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 5000),
            LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 7000),
        };
        return (connection, toServer.Writer);
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
