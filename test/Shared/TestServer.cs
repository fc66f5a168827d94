using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Turbo.Kestrel.Testing;

/// <summary>
/// A real Turbo server on 127.0.0.1, port 0, with its own loop and a log sink. Disposing it stops the
/// server (aborting anything still open) and the loop.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    private TestServer(DelegateServer server, IOLoop loop, LogSink logs, ServiceProvider services)
    {
        Server = server;
        Loop = loop;
        Logs = logs;
        Services = services;
    }

    public DelegateServer Server { get; }

    public IOLoop Loop { get; }

    public LogSink Logs { get; }

    private ServiceProvider Services { get; }

    public IPEndPoint EndPoint => (IPEndPoint)Server.LocalEndPoints[0];

    public int Port => EndPoint.Port;

    /// <summary>A server listening on 127.0.0.1, port 0.</summary>
    public static TestServer Start(Func<IOStream, string, Task> handler, long? maxBufferSize = null, SslOptions? ssl = null)
    {
        var server = Create(handler, maxBufferSize, ssl);
        server.Server.Listen(0, "127.0.0.1");
        return server;
    }

    /// <summary>A server that does not listen yet: the test calls <c>Listen</c> itself.</summary>
    /// <param name="handler">The connection handler.</param>
    /// <param name="maxBufferSize">The server's MaxBufferSize.</param>
    /// <param name="ssl">TLS, or null.</param>
    /// <param name="time">The loop's clock (a FakeTimeProvider for timeouts), or the system clock.</param>
    public static TestServer Create(Func<IOStream, string, Task> handler, long? maxBufferSize = null, SslOptions? ssl = null, TimeProvider? time = null)
    {
        var (loop, logs, services) = NewLoop(time);
        return new TestServer(new DelegateServer(handler, loop, maxBufferSize, ssl), loop, logs, services);
    }

    /// <summary>A loop whose logs go to a sink the test can read.</summary>
    public static (IOLoop Loop, LogSink Logs, ServiceProvider Services) NewLoop(TimeProvider? time = null)
    {
        var logs = new LogSink();
        var collection = new ServiceCollection().AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        if (time is not null)
        {
            collection.AddSingleton(time);
        }

        var services = collection.BuildServiceProvider();
        return (new IOLoop(services), logs, services);
    }

    public Task<TestClient> ConnectAsync() => TestClient.ConnectAsync(EndPoint);

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync(TimeSpan.Zero).Within();
        await Loop.DisposeAsync();
        await Services.DisposeAsync();
    }
}
