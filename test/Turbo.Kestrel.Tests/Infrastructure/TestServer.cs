using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Turbo.Kestrel.Tests.Infrastructure;

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

    public static TestServer Start(Func<IOStream, string, Task> handler, long? maxBufferSize = null, string address = "127.0.0.1")
    {
        var (loop, logs, services) = NewLoop();
        var server = new DelegateServer(handler, loop, maxBufferSize);
        server.Listen(0, address);
        return new TestServer(server, loop, logs, services);
    }

    /// <summary>A loop whose logs go to a sink the test can read.</summary>
    public static (IOLoop Loop, LogSink Logs, ServiceProvider Services) NewLoop()
    {
        var logs = new LogSink();
        var services = new ServiceCollection()
            .AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace))
            .BuildServiceProvider();
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
