using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Limits;
using Turbo.Kestrel.Listening;
using Turbo.Kestrel.Tls;

namespace Turbo.Kestrel;

/// <summary>
/// A TCP server: Turbo's <c>turbo.tcpserver.TCPServer</c> on Kestrel. Subclass it, override
/// <see cref="HandleStreamAsync"/>, and call <see cref="Listen(int, string?, int, AddressFamily)"/> (or register it
/// with <c>builder.UseTurboTcp().AddServer&lt;T&gt;(name)</c> in an ASP.NET Core host).
/// </summary>
/// <remarks>
/// Every <c>Listen</c> binds its sockets at once (errors surface there) and accepts at once, on its own
/// Kestrel server instance with no HTTP protocol, so it never touches the application's HTTP endpoints.
/// A handler that throws closes only its own connection; the server keeps accepting.
/// </remarks>
public abstract class TcpServer : IAsyncDisposable
{
    /// <summary>The default <see cref="MaxBufferSize"/>: 128 MiB, Turbo's real default.</summary>
    internal const long DefaultMaxBufferSize = 128L * 1024 * 1024;

    private static readonly TimeSpan DisposeDrainTimeout = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private readonly List<ListenerGroup> _groups = [];
    private readonly List<Socket> _pending = [];
    private bool _started;
    private IOLoop? _ioLoop;
    private ILogger? _logger;
    private long _maxBufferSize;
    private long _constructorMaxBufferSize;
    private int _stops;
    private TlsEndpoint? _tls;
    private ConnectionWatchdog? _watchdog;
    private LimitValues? _codeLimits;
    private readonly SslOptions? _constructorSslOptions;

    /// <summary>Creates the server (Turbo's <c>TCPServer(io_loop, ssl_options, max_buffer_size)</c>).</summary>
    /// <param name="ioLoop">The loop that owns the server; <see cref="IOLoop.Instance"/> when null. In a host built with <c>UseTurboTcp()</c> the host's loop is used.</param>
    /// <param name="sslOptions">TLS settings (Turbo's <c>ssl_options</c>); the certificate is loaded now.</param>
    /// <param name="maxBufferSize">The most bytes a pending read may look at without completing; defaults to 128 MiB.</param>
    protected TcpServer(IOLoop? ioLoop = null, SslOptions? sslOptions = null, long? maxBufferSize = null)
    {
        if (maxBufferSize is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBufferSize), maxBufferSize, "MaxBufferSize must be at least 1 byte.");
        }

        _ioLoop = ioLoop;
        SslOptions = sslOptions;
        _constructorSslOptions = sslOptions;
        _tls = sslOptions is null ? null : new TlsEndpoint(sslOptions, new CertificateSlot(ServerCertificate.Load(sslOptions)));
        _maxBufferSize = maxBufferSize ?? DefaultMaxBufferSize;
        _constructorMaxBufferSize = _maxBufferSize;
        Name = GetType().Name;
    }

    /// <summary>The loop this server belongs to; <see cref="IOLoop.Stop"/> stops it.</summary>
    public IOLoop IOLoop => _ioLoop ??= IOLoop.Instance;

    /// <summary>
    /// PROXY protocol for a server behind a TCP load balancer (off by default). Set it before listening; it applies to
    /// listeners started afterwards.
    /// </summary>
    public ProxyProtocolOptions ProxyProtocol { get; } = new();

    /// <summary>
    /// Connection limits and timeouts (all off by default): <see cref="ConnectionLimits.MaxConnections"/>,
    /// <see cref="ConnectionLimits.IdleTimeout"/>, <see cref="ConnectionLimits.WriteTimeout"/> and
    /// <see cref="ConnectionLimits.MinReadRate"/>. Changes apply to connections accepted afterwards.
    /// </summary>
    public ConnectionLimits Limits { get; } = new();

    /// <summary>The TLS settings, or null for plain TCP.</summary>
    public SslOptions? SslOptions { get; private set; }

    /// <summary>
    /// The most bytes a pending read may look at without completing before the connection is closed
    /// (see <see cref="IOStream.MaxBufferSize"/>). Defaults to 128 MiB.
    /// </summary>
    public long MaxBufferSize => Volatile.Read(ref _maxBufferSize);

    /// <summary>
    /// What is bound now: one <see cref="IPEndPoint"/> per listening socket, with the real port when 0 was asked for.
    /// </summary>
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

    /// <summary>The name used in logs: the name given to <c>AddServer</c>, or the type name.</summary>
    internal string Name { get; private set; }

    /// <summary>
    /// Listens on <paramref name="port"/>: binds now, accepts now (Turbo's <c>listen(port, address, backlog, family)</c>).
    /// May be called many times, for other ports or addresses, also after <see cref="Stop"/>.
    /// </summary>
    /// <param name="port">The port; 0 picks a free one (see <see cref="LocalEndPoints"/>).</param>
    /// <param name="address">An IP literal or <c>"localhost"</c>; null for every interface. With <see cref="AddressFamily.Unix"/>, the socket's path
    /// (a stale socket file there is removed; any other file is an error; the file is removed when the listener closes).</param>
    /// <param name="backlog">The listen backlog of each socket.</param>
    /// <param name="family">With no address: <see cref="AddressFamily.InterNetwork"/> is <c>0.0.0.0</c>,
    /// <see cref="AddressFamily.InterNetworkV6"/> is <c>[::]</c> IPv6-only, <see cref="AddressFamily.Unspecified"/> is <c>[::]</c> dual-stack.
    /// <see cref="AddressFamily.Unix"/> makes <paramref name="address"/> a path (the port is ignored).</param>
    /// <exception cref="IOException">The address could not be bound (for example the port is in use); the message names it. Nothing stays bound.</exception>
    /// <exception cref="ArgumentException">The address is not an IP literal or <c>"localhost"</c>, or does not match <paramref name="family"/>.</exception>
    public void Listen(int port, string? address = null, int backlog = 128, AddressFamily family = AddressFamily.Unspecified)
        => Accept(ListenAddress.Resolve(port, address, family), backlog);

    /// <summary>Listens on an IPv4 address given as a number in host byte order, e.g. <c>0x7F000001</c> for 127.0.0.1.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The IPv4 address in host byte order.</param>
    /// <param name="backlog">The listen backlog.</param>
    /// <param name="family">Must be <see cref="AddressFamily.InterNetwork"/> (or Unspecified).</param>
    public void Listen(int port, uint address, int backlog = 128, AddressFamily family = AddressFamily.InterNetwork)
        => Accept([ListenAddress.Of(new IPEndPoint(ListenAddress.FromHostOrder(address), port), family)], backlog);

    /// <summary>Listens on <paramref name="address"/>; <see cref="IPAddress.IPv6Any"/> is dual-stack.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The address.</param>
    /// <param name="backlog">The listen backlog.</param>
    public void Listen(int port, IPAddress address, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(address);
        Accept([ListenAddress.Of(new IPEndPoint(address, port), AddressFamily.Unspecified)], backlog);
    }

    /// <summary>
    /// Binds and puts the sockets into the listening state now (so errors surface here and the kernel queues early
    /// clients), and accepts from <see cref="Start"/> (Turbo's <c>bind(port, address, backlog, family)</c>).
    /// After <see cref="Start"/>, it accepts at once. Arguments as for <see cref="Listen(int, string?, int, AddressFamily)"/>.
    /// </summary>
    /// <param name="port">The port; 0 picks a free one (see <see cref="LocalEndPoints"/>).</param>
    /// <param name="address">An IP literal, <c>"localhost"</c>, or with <see cref="AddressFamily.Unix"/> a path; null for every interface.</param>
    /// <param name="backlog">The listen backlog of each socket.</param>
    /// <param name="family">As for <see cref="Listen(int, string?, int, AddressFamily)"/>.</param>
    /// <exception cref="IOException">The address could not be bound; the message names it.</exception>
    public void Bind(int port, string? address = null, int backlog = 128, AddressFamily family = AddressFamily.Unspecified)
        => BindPending(ListenAddress.Resolve(port, address, family), backlog);

    /// <summary>Binds an IPv4 address given in host byte order; accepts from <see cref="Start"/>.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The IPv4 address in host byte order.</param>
    /// <param name="backlog">The listen backlog.</param>
    /// <param name="family">Must be <see cref="AddressFamily.InterNetwork"/> (or Unspecified).</param>
    public void Bind(int port, uint address, int backlog = 128, AddressFamily family = AddressFamily.InterNetwork)
        => BindPending([ListenAddress.Of(new IPEndPoint(ListenAddress.FromHostOrder(address), port), family)], backlog);

    /// <summary>Binds <paramref name="address"/>; accepts from <see cref="Start"/>.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The address.</param>
    /// <param name="backlog">The listen backlog.</param>
    public void Bind(int port, IPAddress address, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(address);
        BindPending([ListenAddress.Of(new IPEndPoint(address, port), AddressFamily.Unspecified)], backlog);
    }

    /// <summary>
    /// Starts accepting on every socket bound by <c>Bind</c> (Turbo's <c>start()</c>). Turbo's process forking
    /// (<c>start(n)</c>) is not ported: run several processes with <c>SockUtil.BindSockets(..., reusePort: true)</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Start was already called (also after <see cref="Stop"/>).</exception>
    public void Start()
    {
        Socket[] pending;
        int stops;
        lock (_gate)
        {
            if (_started)
            {
                throw new InvalidOperationException($"Server {Name} was already started; Start may be called once.");
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

    /// <summary>
    /// Accepts on sockets that are already bound and listening (Turbo's <c>add_sockets</c>), e.g. from
    /// <see cref="SockUtil.BindSockets"/> or inherited from a parent process. The server owns them from now on and
    /// closes them in <see cref="Stop"/>. A socket can serve one server, once.
    /// </summary>
    /// <param name="sockets">Bound, listening stream sockets.</param>
    /// <exception cref="ArgumentException">A socket is not bound and listening, or is already used by a server.</exception>
    /// <remarks>
    /// Kestrel puts each socket into the listening state again: its backlog becomes the one
    /// <see cref="SockUtil.BindSockets"/> gave it, or 128 for a socket made elsewhere. To keep another backlog, use
    /// <see cref="AddSockets(IEnumerable{Socket}, int)"/>.
    /// </remarks>
    public void AddSockets(IEnumerable<Socket> sockets) => AddSocketsCore(sockets, backlog: null);

    /// <summary>As <see cref="AddSockets(IEnumerable{Socket})"/>, listening with <paramref name="backlog"/>.</summary>
    /// <param name="sockets">Bound, listening stream sockets.</param>
    /// <param name="backlog">The listen backlog each socket gets.</param>
    public void AddSockets(IEnumerable<Socket> sockets, int backlog)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        AddSocketsCore(sockets, backlog);
    }

    /// <summary>Accepts on one socket that is already bound and listening (Turbo's <c>add_socket</c>); see <see cref="AddSockets(IEnumerable{Socket})"/>.</summary>
    /// <param name="socket">A bound, listening stream socket.</param>
    public void AddSocket(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        AddSocketsCore([socket], backlog: null);
    }

    /// <summary>Validates and claims every socket, all or none, then accepts on them.</summary>
    internal ListenerGroup? AddSocketsCore(IEnumerable<Socket> sockets, int? backlog)
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
            if (!SocketRegistry.TryClaim(socket, this))
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

    /// <summary>
    /// Closes every listening socket now (Turbo's <c>stop()</c>). Connections already accepted keep running and
    /// are not signalled. Calling it twice is harmless; <c>Listen</c> works again afterwards.
    /// </summary>
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
            if (group.Unbind())
            {
                LogStoppedListening(group);
            }
        }
    }

    /// <summary>
    /// Stops listening, asks every open stream to finish (<see cref="IOStream.ClosingRequested"/>), waits for
    /// the handlers, and aborts the connections still open after <paramref name="drainTimeout"/>.
    /// </summary>
    /// <param name="drainTimeout">How long handlers get to finish; <see cref="Timeout.InfiniteTimeSpan"/> waits for them.</param>
    /// <param name="cancellationToken">Cancelling it aborts what is left at once.</param>
    /// <returns>A task that completes when every connection has ended.</returns>
    public async Task StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        if (drainTimeout < TimeSpan.Zero && drainTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(drainTimeout), drainTimeout, "The drain timeout must not be negative.");
        }

        var groups = Snapshot();
        Stop();
        var open = groups.Sum(g => g.ConnectionCount);
        if (open > 0 && _logger is not null)
        {
            TurboLog.Draining(_logger, Name, open, drainTimeout == Timeout.InfiniteTimeSpan ? "as long as they need" : drainTimeout.ToString());
        }

        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (drainTimeout != Timeout.InfiniteTimeSpan)
        {
            abort.CancelAfter(drainTimeout);
        }

        await Task.WhenAll(groups.Select(g => g.DrainAsync(abort.Token))).ConfigureAwait(false);
        lock (_gate)
        {
            _groups.RemoveAll(g => g.Stopped.IsCompleted);
        }
    }

    /// <summary>Stops the server, draining open connections for at most 5 seconds.</summary>
    /// <returns>A task that completes when the server has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(DisposeDrainTimeout).ConfigureAwait(false);
        _ioLoop?.Unregister(this);
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Handles one accepted connection (Turbo's <c>handle_stream(stream, address)</c>). Called once per
    /// connection, concurrently for many connections. When it returns, the stream is closed after pending
    /// writes are flushed. An exception is logged once with the connection id and closes only this connection;
    /// a <see cref="StreamClosedException"/> or <see cref="UnsatisfiableReadException"/> escaping it is the
    /// normal end of a connection and logged at Debug.
    /// </summary>
    /// <param name="stream">The connection's stream.</param>
    /// <param name="address">The peer's IP address as text, without port (IPv4-mapped addresses shown as IPv4).</param>
    /// <returns>A task that completes when the handler is done with the connection.</returns>
    protected abstract Task HandleStreamAsync(IOStream stream, string address);

    /// <summary>Completes when every Kestrel instance this server started has stopped (tests: nothing leaks).</summary>
    internal Task ListenersStopped
    {
        get
        {
            lock (_gate)
            {
                return Task.WhenAll(_groups.Select(g => g.Stopped));
            }
        }
    }

    private Proxy.ProxyProtocolMiddleware? CreateProxyMiddleware(ILogger logger)
    {
        if (ProxyProtocol.Mode == ProxyProtocolMode.Off)
        {
            return null;
        }

        if (ProxyProtocol.TrustedProxies.Count == 0)
        {
            throw new InvalidOperationException($"Server {Name}: ProxyProtocol.Mode is {ProxyProtocol.Mode}, but no TrustedProxies are given; a PROXY header is accepted only from listed proxies.");
        }

        return new Proxy.ProxyProtocolMiddleware(ProxyProtocol, logger, IOLoop.TimeProvider);
    }

    /// <summary>The server's TLS, once it has any; configuration reloads rotate its certificate.</summary>
    internal TlsEndpoint? Tls => _tls;

    /// <summary>
    /// Applies TLS settings from configuration. The certificate goes into the slot every listener of this server
    /// reads, so running listeners present it at their next handshake; other settings apply to listeners started
    /// from now on. A certificate that cannot be loaded throws and changes nothing.
    /// </summary>
    private void ApplyTls(SslOptions options)
    {
        if (SslOptions is { } current && SameFiles(current, options) && SameHandshake(current, options))
        {
            return;
        }

        var certificate = ServerCertificate.Load(options);
        if (_tls is { } tls)
        {
            tls.Certificate.Current = certificate;
            if (!SameHandshake(tls.Options, options))
            {
                _tls = new TlsEndpoint(options, tls.Certificate);
            }
        }
        else
        {
            _tls = new TlsEndpoint(options, new CertificateSlot(certificate));
        }

        SslOptions = options;
    }

    /// <summary>Configuration cannot express a validation callback or ALPN: those set in code stay.</summary>
    private SslOptions WithCodeOnlySettings(SslOptions fromConfiguration)
    {
        if (_constructorSslOptions is { } code)
        {
            fromConfiguration.ClientCertificateValidation ??= code.ClientCertificateValidation;
            if (fromConfiguration.ApplicationProtocols.Count == 0)
            {
                foreach (var protocol in code.ApplicationProtocols)
                {
                    fromConfiguration.ApplicationProtocols.Add(protocol);
                }
            }
        }

        return fromConfiguration;
    }

    private static bool SameFiles(SslOptions a, SslOptions b) =>
        a.CertFile == b.CertFile && a.KeyFile == b.KeyFile && a.Password == b.Password;

    /// <summary>Everything but the certificate files.</summary>
    private static bool SameHandshake(SslOptions a, SslOptions b) =>
        a.ClientCertificateMode == b.ClientCertificateMode && a.Protocols == b.Protocols && a.HandshakeTimeout == b.HandshakeTimeout
        && a.ClientCertificateValidation == b.ClientCertificateValidation && a.ApplicationProtocols.SequenceEqual(b.ApplicationProtocols);

    /// <summary>Joins a host: its loop, its name for this server, and the settings from its configuration.</summary>
    internal void AttachToHost(IOLoop loop, string name, long? maxBufferSize, SslOptions? sslOptions = null)
    {
        if (sslOptions is not null)
        {
            ApplyTls(WithCodeOnlySettings(sslOptions));
        }

        _ioLoop = loop;
        Name = name;
        Volatile.Write(ref _maxBufferSize, maxBufferSize ?? _constructorMaxBufferSize);
    }

    /// <summary>
    /// Applies the <c>Limits</c> section on top of the limits set in code (captured the first time), so that a key
    /// removed on reload goes back to the code's value.
    /// </summary>
    internal void ApplyLimits(Hosting.LimitSettings? settings)
    {
        var fromCode = _codeLimits ??= Limits.Current;
        (settings ?? new Hosting.LimitSettings(null, null, null, null)).ApplyTo(Limits, fromCode);
    }

    /// <summary>Binds and accepts now (<c>Listen</c>).</summary>
    private void Accept(IReadOnlyList<ListenAddress> addresses, int backlog)
    {
        var stops = StopsSoFar();
        StartGroup(BindOwned(addresses, backlog), stops);
    }

    /// <summary>Listens like <c>Listen</c> and returns the listener, so that configuration reloads can close it alone.</summary>
    internal ListenerGroup ListenTracked(int port, string? address, int backlog, AddressFamily family, bool reusePort = false)
    {
        var stops = StopsSoFar();
        return StartGroup(BindOwned(ListenAddress.Resolve(port, address, family), backlog, reusePort), stops);
    }

    private int StopsSoFar()
    {
        lock (_gate)
        {
            return _stops;
        }
    }

    /// <summary>Closes one listener (a configuration reload removed its endpoint); its connections keep running.</summary>
    internal void StopListener(ListenerGroup group)
    {
        if (group.Unbind())
        {
            LogStoppedListening(group);
        }
    }

    /// <summary>Binds now; accepts now if started, else from <see cref="Start"/> (<c>Bind</c>).</summary>
    private void BindPending(IReadOnlyList<ListenAddress> addresses, int backlog)
    {
        var stops = StopsSoFar();
        var sockets = BindOwned(addresses, backlog);
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

    private List<Socket> BindOwned(IReadOnlyList<ListenAddress> addresses, int backlog, bool reusePort = false)
    {
        var sockets = ListenSocket.BindAll(addresses, backlog, reusePort);
        foreach (var socket in sockets)
        {
            SocketRegistry.TryClaim(socket, this);
        }

        return sockets;
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

    /// <summary>
    /// Accepts on <paramref name="sockets"/>. <paramref name="stopsBefore"/> is how many <see cref="Stop"/> calls had
    /// happened when the caller began: one that came while the Kestrel instance was starting could not see it, so
    /// it is closed here, as if the Stop had come after.
    /// </summary>
    private ListenerGroup StartGroup(IReadOnlyList<Socket> sockets, int stopsBefore)
    {
        var loop = IOLoop;
        var logger = _logger ??= loop.LoggerFactory.CreateLogger(TurboLog.Category);
        var tls = _tls;
        var proxy = CreateProxyMiddleware(logger);
        var watchdog = Watchdog;
        var name = Name;
        var metrics = loop.Metrics;
        var group = ListenerGroup.Start(
            sockets, RunConnectionAsync, tls is null ? loop.Services : loop.KestrelTlsServices, loop.LoggerFactory, watchdog,
            endPoint => new EndpointMetrics(metrics, name, endPoint), tls, proxy, inlineScheduling: loop.InlineScheduling);
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

        loop.Register(this);
        foreach (var endPoint in group.EndPoints)
        {
            TurboLog.Listening(logger, Name, endPoint);
        }

        return group;
    }

    /// <summary>The server's limits at work: made on first use, with the loop's clock.</summary>
    internal ConnectionWatchdog Watchdog
    {
        get
        {
            lock (_gate)
            {
                return _watchdog ??= new ConnectionWatchdog(this, IOLoop.TimeProvider, _logger ??= IOLoop.LoggerFactory.CreateLogger(TurboLog.Category));
            }
        }
    }

    private async Task RunConnectionAsync(ConnectionContext connection, ListenerGroup group, EndpointMetrics metrics)
    {
        var started = Stopwatch.GetTimestamp();
        var watchdog = _watchdog!;
        var watch = watchdog.Watch();
        var stream = new IOStream(connection, MaxBufferSize, _logger!, watch, metrics);
        if (watch is not null)
        {
            watch.Stream = stream;
            watchdog.Track(watch);
        }

        metrics.ConnectionStarted();
        string? errorType = null;
        try
        {
            await HandleStreamAsync(stream, stream.Address).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsNormalEnd(ex, stream))
        {
            TurboLog.HandlerEndedByClosedStream(_logger!, connection.ConnectionId, Name, ex);
        }
#pragma warning disable CA1031 // A failing handler must close only its own connection; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            errorType = ex.GetType().FullName;
            TurboLog.HandlerFailed(_logger!, connection.ConnectionId, Name, ex);
        }
        finally
        {
            try
            {
                await stream.FinishAsync().ConfigureAwait(false);
                if (watch is not null)
                {
                    watchdog.Untrack(watch);
                }
            }
            finally
            {
                metrics.ConnectionEnded(started, stream, errorType);
            }
        }
    }

    /// <summary>A handler ended by its stream closing, or by the cancellation the server asked for, did not fail.</summary>
    private static bool IsNormalEnd(Exception ex, IOStream stream) => ex switch
    {
        StreamClosedException or UnsatisfiableReadException => true,
        OperationCanceledException => stream.ClosingRequested.IsCancellationRequested || stream.IsClosed,
        _ => false,
    };

    private ListenerGroup[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _groups];
        }
    }

    private void LogStoppedListening(ListenerGroup group)
    {
        if (_logger is null)
        {
            return;
        }

        foreach (var endPoint in group.EndPoints)
        {
            TurboLog.StoppedListening(_logger, Name, endPoint);
        }
    }
}
