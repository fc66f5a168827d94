using System.Net;
using System.Net.Sockets;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// Everything one <see cref="TcpServer"/> listens on: a <see cref="ListenerGroup"/> (one Kestrel instance) per
/// <c>Listen</c>, <c>Start</c> or <c>AddSockets</c> call, and the sockets <c>Bind</c> made that wait for <c>Start</c>.
/// It also holds the server's shutdown sequence, <see cref="StopAsync"/>.
/// </summary>
internal sealed class ServerListeners(TcpServer server)
{
    private readonly Lock _gate = new();
    private readonly List<ListenerGroup> _groups = [];
    private readonly List<Socket> _pending = [];
    private bool _started;
    private int _stops;

    /// <summary>What is bound now: every listening socket, and the bound ones waiting for <see cref="Start"/>.</summary>
    public IReadOnlyList<EndPoint> LocalEndPoints
    {
        get
        {
            lock (_gate)
            {
                return _groups.Where(g => g.IsListening).SelectMany(g => g.EndPoints)
                    .Concat(_pending.Select(s => s.LocalEndPoint!))
                    .ToArray();
            }
        }
    }

    /// <summary>Binds <paramref name="addresses"/> and accepts on them now (<c>Listen</c>).</summary>
    /// <returns>The listener, which <see cref="Close"/> can close alone.</returns>
    public ListenerGroup Listen(IReadOnlyList<ListenAddress> addresses, int backlog, bool reusePort = false)
    {
        var stops = StopsSoFar();
        return StartGroup(BindOwned(addresses, backlog, reusePort), stops);
    }

    /// <summary>Binds <paramref name="addresses"/> now; accepts now if started, else from <see cref="Start"/> (<c>Bind</c>).</summary>
    public void Bind(IReadOnlyList<ListenAddress> addresses, int backlog)
    {
        var stops = StopsSoFar();
        var sockets = BindOwned(addresses, backlog, reusePort: false);
        lock (_gate)
        {
            if (!_started)
            {
                _pending.AddRange(sockets);
                return;
            }
        }

        StartGroup(sockets, stops);
    }

    /// <summary>Accepts on every socket <see cref="Bind"/> made (<c>Start</c>); may be called once.</summary>
    public void Start()
    {
        Socket[] pending;
        int stops;
        lock (_gate)
        {
            if (_started)
            {
                throw new InvalidOperationException($"Server {server.Name} was already started; Start may be called once.");
            }

            _started = true;
            pending = [.. _pending];
            _pending.Clear();
            stops = _stops;
        }

        if (pending.Length > 0)
        {
            StartGroup(pending, stops);
        }
    }

    /// <summary>Validates and claims every socket, all or none, then accepts on them (<c>AddSockets</c>).</summary>
    /// <param name="sockets">Bound, listening stream sockets.</param>
    /// <param name="backlog">The backlog Kestrel listens with; null keeps the one each socket was made with.</param>
    /// <returns>The listener, or null when no socket was given.</returns>
    public ListenerGroup? Add(IEnumerable<Socket> sockets, int? backlog)
    {
        ArgumentNullException.ThrowIfNull(sockets);
        var list = sockets.ToArray();
        if (list.Distinct().Count() != list.Length)
        {
            throw new ArgumentException("The same socket is listed twice; a socket can serve one server, once.", nameof(sockets));
        }

        foreach (var socket in list)
        {
            ArgumentNullException.ThrowIfNull(socket, nameof(sockets));
            if (!socket.IsBound || !ListenSocket.IsListening(socket))
            {
                throw new ArgumentException($"The socket {DescribeLocal(socket)} is not bound and listening.", nameof(sockets));
            }
        }

        var claimed = new List<Socket>(list.Length);
        foreach (var socket in list)
        {
            if (!SocketRegistry.TryClaim(socket, server))
            {
                claimed.ForEach(SocketRegistry.Release);
                throw new ArgumentException($"The socket {DescribeLocal(socket)} is already used by a server; a socket can serve one server, once.", nameof(sockets));
            }

            claimed.Add(socket);
        }

        if (backlog is { } value)
        {
            foreach (var socket in list)
            {
                SocketRegistry.RecordBacklog(socket, value);
            }
        }

        return list.Length > 0 ? StartGroup(list, StopsSoFar()) : null;
    }

    /// <summary>Closes every listening socket, and those waiting for <see cref="Start"/>; connections keep running (<c>Stop</c>).</summary>
    public void Stop()
    {
        Socket[] pending;
        lock (_gate)
        {
            _stops++;
            pending = [.. _pending];
            _pending.Clear();
        }

        foreach (var socket in pending)
        {
            socket.Dispose();
        }

        foreach (var group in Snapshot())
        {
            Close(group);
        }
    }

    /// <summary>Closes one listener (a configuration reload removed its endpoint); its connections keep running.</summary>
    public void Close(ListenerGroup group)
    {
        if (group.Unbind())
        {
            foreach (var endPoint in group.EndPoints)
            {
                TurboLog.StoppedListening(server.Dispatcher.Logger, server.Name, endPoint);
            }
        }
    }

    /// <summary>
    /// The server's shutdown, in three steps: stop listening, ask every connection to finish, and abort those still
    /// open at the deadline. Completes when every connection has ended and every Kestrel instance has stopped.
    /// </summary>
    /// <param name="drainTimeout">How long handlers get to finish; <see cref="Timeout.InfiniteTimeSpan"/> waits for them.</param>
    /// <param name="cancellationToken">Cancelling it aborts what is left at once.</param>
    public async Task StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var groups = Snapshot();

        // 1. Stop listening: the sockets close now, so no connection is accepted from here on.
        Stop();
        var open = groups.Sum(g => g.ConnectionCount);
        if (open > 0)
        {
            TurboLog.Draining(server.Dispatcher.Logger, server.Name, open,
                drainTimeout == Timeout.InfiniteTimeSpan ? "as long as they need" : drainTimeout.ToString());
        }

        // 2. Ask every connection to finish: each stream's ClosingRequested fires, and its handler is awaited.
        foreach (var group in groups)
        {
            group.BeginStop();
        }

        // 3. At the deadline, or when the caller cancels, abort what is still open: pending reads and writes fail,
        // the clients see a reset. A deadline already past aborts at once.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (drainTimeout != Timeout.InfiniteTimeSpan)
        {
            deadline.CancelAfter(drainTimeout);
        }

        using (deadline.Token.UnsafeRegister(static state => AbortAll((ListenerGroup[])state!), groups))
        {
            await Task.WhenAll(groups.Select(g => g.Stopped)).ConfigureAwait(false);
        }

        lock (_gate)
        {
            _groups.RemoveAll(g => g.Stopped.IsCompleted);
        }
    }

    private static void AbortAll(ListenerGroup[] groups)
    {
        foreach (var group in groups)
        {
            group.AbortConnections();
        }
    }

    private int StopsSoFar()
    {
        lock (_gate)
        {
            return _stops;
        }
    }

    private List<Socket> BindOwned(IReadOnlyList<ListenAddress> addresses, int backlog, bool reusePort)
    {
        var sockets = ListenSocket.BindAll(addresses, backlog, reusePort);
        foreach (var socket in sockets)
        {
            SocketRegistry.TryClaim(socket, server);
        }

        return sockets;
    }

    /// <summary>
    /// Accepts on <paramref name="sockets"/>. <paramref name="stopsBefore"/> is how many <see cref="Stop"/> calls had
    /// happened when the caller began: one that came while the Kestrel instance was starting could not see it, so
    /// it is closed here, as if the Stop had come after.
    /// </summary>
    private ListenerGroup StartGroup(IReadOnlyList<Socket> sockets, int stopsBefore)
    {
        var group = ListenerGroup.Start(sockets, server);
        bool stoppedMeanwhile;
        lock (_gate)
        {
            _groups.RemoveAll(g => g.Stopped.IsCompleted);
            _groups.Add(group);
            stoppedMeanwhile = _stops != stopsBefore;
        }

        if (stoppedMeanwhile)
        {
            group.Unbind();
            return group;
        }

        server.IOLoop.Register(server);
        foreach (var endPoint in group.EndPoints)
        {
            TurboLog.Listening(server.Dispatcher.Logger, server.Name, endPoint);
        }

        return group;
    }

    private ListenerGroup[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _groups];
        }
    }

    private static string DescribeLocal(Socket socket)
    {
        try
        {
            return socket.LocalEndPoint is { } local ? ListenSocket.Describe(local) : "(unbound)";
        }
        catch (ObjectDisposedException)
        {
            return "(closed)";
        }
    }
}
