using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Server;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// One Kestrel server instance accepting on a set of sockets for one <see cref="TcpServer"/>.
/// </summary>
/// <remarks>
/// <see cref="Unbind"/> closes the listening sockets at once and leaves accepted connections running
/// (Turbo's <c>stop()</c>); the Kestrel instance is stopped when its last connection ends.
/// A stop (<see cref="ServerListeners.StopAsync"/>) asks every connection to close (<see cref="BeginStop"/>) and aborts
/// those still open at its deadline (<see cref="AbortConnections"/>).
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

    /// <summary>
    /// Starts a Kestrel instance accepting on <paramref name="sockets"/> for <paramref name="server"/>, each listener
    /// with the server's connection pipeline (<see cref="ConnectionDispatcher.Install"/>). On failure the sockets are closed.
    /// </summary>
    public static ListenerGroup Start(IReadOnlyList<Socket> sockets, TcpServer server)
    {
        var group = new ListenerGroup(sockets);
        var loop = server.IOLoop;
        var dispatcher = server.Dispatcher;
        var tls = server.Tls?.Endpoint;
        KestrelServer? kestrel = null;
        try
        {
            var options = new KestrelServerOptions
            {
                ApplicationServices = tls is null ? loop.Services : loop.KestrelTlsServices,
                AddServerHeader = false,
            };
            foreach (var socket in sockets)
            {
                var metrics = new EndpointMetrics(loop.Metrics, server.Name, socket.LocalEndPoint);
                options.Listen(
                    new BoundSocketEndPoint(socket, SocketRegistry.BacklogOf(socket)),
                    listen => dispatcher.Install(listen, tls, metrics, group));
            }

            kestrel = new KestrelServer(Options.Create(options), new PreboundListenerFactory(loop.LoggerFactory, group, loop.InlineScheduling), loop.LoggerFactory);
            kestrel.StartAsync(NoHttpApplication.Instance, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch
        {
            kestrel?.Dispose();
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
    /// Aborts the connections still open: a stop in progress (<see cref="BeginStop"/>) stops waiting for their
    /// handlers. Each stream's pending reads and writes fail.
    /// </summary>
    public void AbortConnections()
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

    /// <summary>
    /// Stops the Kestrel instance: it fires each open connection's <c>ConnectionClosedRequested</c> (the stream's
    /// <see cref="IOStream.ClosingRequested"/>) and waits for the handlers, until <see cref="AbortConnections"/>.
    /// <see cref="Stopped"/> completes when it has stopped.
    /// </summary>
    public void BeginStop()
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
