using System.Net;
using System.Net.Sockets;
using Turbo.Kestrel.Listening;
using Turbo.Kestrel.Server;
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
    private IOLoop? _ioLoop;
    private long _maxBufferSize;
    private ConnectionDispatcher? _dispatcher;

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
        Tls = sslOptions is null ? null : new ServerTls(sslOptions);
        _maxBufferSize = maxBufferSize ?? DefaultMaxBufferSize;
        Name = GetType().Name;
        Listeners = new ServerListeners(this);
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
    public SslOptions? SslOptions => Tls?.Options;

    /// <summary>
    /// The most bytes a pending read may look at without completing before the connection is closed
    /// (see <see cref="IOStream.MaxBufferSize"/>). Defaults to 128 MiB.
    /// </summary>
    public long MaxBufferSize => Volatile.Read(ref _maxBufferSize);

    /// <summary>
    /// What is bound now: one <see cref="IPEndPoint"/> per listening socket, with the real port when 0 was asked for.
    /// </summary>
    public IReadOnlyList<EndPoint> LocalEndPoints => Listeners.LocalEndPoints;

    /// <summary>The name used in logs and metrics: the name given to <c>AddServer</c>, or the type name.</summary>
    internal string Name { get; private set; }

    /// <summary>The server's TLS, once it has any; a host's configuration may give or change it.</summary>
    internal ServerTls? Tls { get; set; }

    /// <summary>Where the server listens.</summary>
    internal ServerListeners Listeners { get; }

    /// <summary>The server's connection pipeline, made with its loop when it first listens.</summary>
    internal ConnectionDispatcher Dispatcher
    {
        get
        {
            lock (_gate)
            {
                return _dispatcher ??= new ConnectionDispatcher(this, IOLoop);
            }
        }
    }

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
    public void Listen(int port, string? address = null, int backlog = ListenSocket.DefaultBacklog, AddressFamily family = AddressFamily.Unspecified)
        => Listeners.Listen(ListenAddress.Resolve(port, address, family), backlog);

    /// <summary>Listens on an IPv4 address given as a number in host byte order, e.g. <c>0x7F000001</c> for 127.0.0.1.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The IPv4 address in host byte order.</param>
    /// <param name="backlog">The listen backlog.</param>
    /// <param name="family">Must be <see cref="AddressFamily.InterNetwork"/> (or Unspecified).</param>
    public void Listen(int port, uint address, int backlog = ListenSocket.DefaultBacklog, AddressFamily family = AddressFamily.InterNetwork)
        => Listeners.Listen([ListenAddress.Of(new IPEndPoint(ListenAddress.FromHostOrder(address), port), family)], backlog);

    /// <summary>Listens on <paramref name="address"/>; <see cref="IPAddress.IPv6Any"/> is dual-stack.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The address.</param>
    /// <param name="backlog">The listen backlog.</param>
    public void Listen(int port, IPAddress address, int backlog = ListenSocket.DefaultBacklog)
    {
        ArgumentNullException.ThrowIfNull(address);
        Listeners.Listen([ListenAddress.Of(new IPEndPoint(address, port), AddressFamily.Unspecified)], backlog);
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
    public void Bind(int port, string? address = null, int backlog = ListenSocket.DefaultBacklog, AddressFamily family = AddressFamily.Unspecified)
        => Listeners.Bind(ListenAddress.Resolve(port, address, family), backlog);

    /// <summary>Binds an IPv4 address given in host byte order; accepts from <see cref="Start"/>.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The IPv4 address in host byte order.</param>
    /// <param name="backlog">The listen backlog.</param>
    /// <param name="family">Must be <see cref="AddressFamily.InterNetwork"/> (or Unspecified).</param>
    public void Bind(int port, uint address, int backlog = ListenSocket.DefaultBacklog, AddressFamily family = AddressFamily.InterNetwork)
        => Listeners.Bind([ListenAddress.Of(new IPEndPoint(ListenAddress.FromHostOrder(address), port), family)], backlog);

    /// <summary>Binds <paramref name="address"/>; accepts from <see cref="Start"/>.</summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">The address.</param>
    /// <param name="backlog">The listen backlog.</param>
    public void Bind(int port, IPAddress address, int backlog = ListenSocket.DefaultBacklog)
    {
        ArgumentNullException.ThrowIfNull(address);
        Listeners.Bind([ListenAddress.Of(new IPEndPoint(address, port), AddressFamily.Unspecified)], backlog);
    }

    /// <summary>
    /// Starts accepting on every socket bound by <c>Bind</c> (Turbo's <c>start()</c>). Turbo's process forking
    /// (<c>start(n)</c>) is not ported: run several processes with <c>SockUtil.BindSockets(..., reusePort: true)</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Start was already called (also after <see cref="Stop"/>).</exception>
    public void Start() => Listeners.Start();

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
    public void AddSockets(IEnumerable<Socket> sockets) => Listeners.Add(sockets, backlog: null);

    /// <summary>As <see cref="AddSockets(IEnumerable{Socket})"/>, listening with <paramref name="backlog"/>.</summary>
    /// <param name="sockets">Bound, listening stream sockets.</param>
    /// <param name="backlog">The listen backlog each socket gets.</param>
    public void AddSockets(IEnumerable<Socket> sockets, int backlog)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        Listeners.Add(sockets, backlog);
    }

    /// <summary>Accepts on one socket that is already bound and listening (Turbo's <c>add_socket</c>); see <see cref="AddSockets(IEnumerable{Socket})"/>.</summary>
    /// <param name="socket">A bound, listening stream socket.</param>
    public void AddSocket(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Listeners.Add([socket], backlog: null);
    }

    /// <summary>
    /// Closes every listening socket now (Turbo's <c>stop()</c>). Connections already accepted keep running and
    /// are not signalled. Calling it twice is harmless; <c>Listen</c> works again afterwards.
    /// </summary>
    public void Stop() => Listeners.Stop();

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

        await Listeners.StopAsync(drainTimeout, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Runs the handler on one connection's stream (for the <see cref="ConnectionDispatcher"/>).</summary>
    internal Task HandleAsync(IOStream stream) => HandleStreamAsync(stream, stream.Address);

    /// <summary>
    /// Joins a host: its loop, its name for this server, and the buffer limit from its configuration. Call it before
    /// the server first listens.
    /// </summary>
    internal void AttachToHost(IOLoop loop, string name, long maxBufferSize)
    {
        _ioLoop = loop;
        Name = name;
        Volatile.Write(ref _maxBufferSize, maxBufferSize);
    }
}
