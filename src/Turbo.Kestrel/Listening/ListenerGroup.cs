using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Turbo.Kestrel.Tls;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// One Kestrel server instance accepting on a set of sockets for one <see cref="TcpServer"/>.
/// </summary>
/// <remarks>
/// <see cref="Unbind"/> closes the listening sockets at once and leaves accepted connections running
/// (Turbo's <c>stop()</c>); the Kestrel instance is stopped when its last connection ends.
/// <see cref="DrainAsync"/> asks every connection to close and aborts those still open when its token fires.
/// </remarks>
internal sealed class ListenerGroup : IDisposable
{
    private readonly IReadOnlyList<Socket> _sockets;
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private KestrelServer? _kestrel;
    private int _connections;
    private int _acceptLoops;
    private int _unbound;
    private int _stopping;

    private ListenerGroup(IReadOnlyList<Socket> sockets)
    {
        _sockets = sockets;
        _acceptLoops = sockets.Count;
        EndPoints = sockets.Select(s => s.LocalEndPoint!).ToArray();
    }

    /// <summary>What the sockets are bound to, with the real port when 0 was asked for.</summary>
    public IReadOnlyList<EndPoint> EndPoints { get; }

    public bool IsListening => Volatile.Read(ref _unbound) == 0;

    /// <summary>Completes when the Kestrel instance has stopped.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Starts accepting on <paramref name="sockets"/>; on failure the sockets are closed.</summary>
    public static ListenerGroup Start(
        IReadOnlyList<Socket> sockets,
        Func<ConnectionContext, ListenerGroup, Diagnostics.EndpointMetrics, Task> onConnection,
        IServiceProvider services,
        ILoggerFactory loggerFactory,
        Limits.ConnectionWatchdog watchdog,
        Func<EndPoint?, Diagnostics.EndpointMetrics> metricsFor,
        TlsEndpoint? tls = null,
        Proxy.ProxyProtocolMiddleware? proxy = null,
        bool inlineScheduling = false)
    {
        var group = new ListenerGroup(sockets);
        var options = new KestrelServerOptions { ApplicationServices = services, AddServerHeader = false };
        foreach (var socket in sockets)
        {
            var metrics = metricsFor(socket.LocalEndPoint);
            options.Listen(new BoundSocketEndPoint(socket, SocketRegistry.BacklogOf(socket)), listen =>
            {
                listen.Protocols = HttpProtocols.None;

                // Outermost: every accepted connection ends here, also one whose TLS handshake fails. A server at
                // MaxConnections closes the new one at once, before its PROXY header or handshake.
                listen.Use(next => async connection =>
                {
                    if (!watchdog.TryAdmit(connection.ConnectionId))
                    {
                        metrics.Rejected("max_connections");
                        group.OnConnectionEnded();
                        return;
                    }

                    try
                    {
                        await next(connection).ConfigureAwait(false);
                    }
                    finally
                    {
                        watchdog.Release();
                        group.OnConnectionEnded();
                    }
                });
                if (proxy is not null)
                {
                    // The PROXY header comes before anything else, TLS included.
                    listen.Use(next => connection => proxy.OnConnectionAsync(connection, next, metrics));
                }

                tls?.Apply(listen);
                listen.Run(connection => onConnection(connection, group, metrics));
            });
        }

        var kestrel = new KestrelServer(Options.Create(options), new PreboundListenerFactory(loggerFactory, group, inlineScheduling), loggerFactory);
        try
        {
            kestrel.StartAsync(NoHttpApplication.Instance, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch
        {
            kestrel.Dispose();
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            throw;
        }

        group._kestrel = kestrel;
        return group;
    }

    /// <summary>A listener accepted a connection; counted before Kestrel dispatches it.</summary>
    public void OnConnectionAccepted() => Interlocked.Increment(ref _connections);

    /// <summary>The handler of an accepted connection has finished.</summary>
    public void OnConnectionEnded()
    {
        Interlocked.Decrement(ref _connections);
        StopWhenIdle();
    }

    /// <summary>A listener's accept loop has ended (its socket was closed): it accepts nothing more.</summary>
    public void OnAcceptLoopEnded()
    {
        Interlocked.Decrement(ref _acceptLoops);
        StopWhenIdle();
    }

    /// <summary>Closes the listening sockets now; accepted connections keep running.</summary>
    /// <returns>False when they were already closed.</returns>
    public bool Unbind()
    {
        if (Interlocked.Exchange(ref _unbound, 1) != 0)
        {
            return false;
        }

        // Kestrel's accept loop holds the same Socket objects: disposing them ends it cleanly.
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        StopWhenIdle();
        return true;
    }

    /// <summary>
    /// Stops listening, fires each connection's <c>ConnectionClosedRequested</c>, waits for the handlers, and
    /// aborts the connections still open when <paramref name="abort"/> fires.
    /// </summary>
    public async Task DrainAsync(CancellationToken abort)
    {
        Unbind();
        using (abort.UnsafeRegister(static s => ((ListenerGroup)s!).AbortConnections(), this))
        {
            BeginStop();
            await _stopped.Task.ConfigureAwait(false);
        }
    }

    private void AbortConnections()
    {
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Kestrel has already stopped; nothing is left to abort.
        }
    }

    /// <summary>
    /// Once nothing listens, no accept loop can still hand over a connection, and no handler runs, the Kestrel
    /// instance has nothing left to do: stop it, so its timer thread goes away. Stopping it earlier would ask
    /// connections that were just accepted to close, which <c>Stop()</c> must not do.
    /// </summary>
    private void StopWhenIdle()
    {
        if (!IsListening && Volatile.Read(ref _acceptLoops) == 0 && Volatile.Read(ref _connections) == 0)
        {
            BeginStop();
        }
    }

    private void BeginStop()
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 0)
        {
            _ = StopKestrelAsync();
        }
    }

    private async Task StopKestrelAsync()
    {
        try
        {
            await _kestrel!.StopAsync(_abort.Token).ConfigureAwait(false);
            _kestrel.Dispose();
        }
        finally
        {
            Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>Releases the abort signal; called once Kestrel has stopped.</summary>
    public void Dispose() => _abort.Dispose();

    public int ConnectionCount => Volatile.Read(ref _connections);
}
