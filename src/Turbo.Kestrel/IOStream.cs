using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

/// <summary>
/// One accepted connection, as handed to <see cref="TcpServer"/>'s <c>HandleStreamAsync</c>: Turbo's
/// <c>turbo.iostream.IOStream</c> with Tornado's awaitable semantics, on Kestrel's connection pipes.
/// </summary>
/// <remarks>
/// <para>Reads: one at a time; every result includes its delimiter; bytes after it stay buffered for the
/// next read. Writes: any number may overlap; bytes leave in call order and each write completes when its
/// bytes are handed to the transport (waiting while the peer does not read).</para>
/// <para>A peer FIN ends the read side only: reads the buffer can satisfy still succeed, the next one throws
/// <see cref="StreamClosedException"/>, and writes keep working until <see cref="Close"/>, <see cref="Abort"/>
/// or the handler returning.</para>
/// </remarks>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Turbo's name (turbo.iostream.IOStream), fixed by the contract.")]
public partial class IOStream
{
    private readonly ConnectionContext _connection;
    private readonly PipeReader _input;
    private readonly OutputQueue _output;
    private readonly ILogger _logger;
    private readonly Limits.ConnectionWatch? _watch;
    private volatile TimeoutException? _limitFailure;
    private CancellationTokenSource? _closedSource;
    private CancellationTokenRegistration _closeCallbackRegistration;
    private int _closedSignalled;
    private volatile bool _closedLocally;
    private long _maxBufferSize;
    private string? _address;
    private SslInfo? _tls;
    private readonly Diagnostics.EndpointMetrics? _metrics;
    private volatile string? _closedByLimit;

    internal IOStream(
        ConnectionContext connection, long maxBufferSize, ILogger logger, Limits.ConnectionWatch? watch = null, Diagnostics.EndpointMetrics? metrics = null)
    {
        _connection = connection;
        _input = connection.Transport.Input;
        _watch = watch;
        _metrics = metrics;
        _output = new OutputQueue(connection.Transport.Output, watch);
        _logger = logger;
        _maxBufferSize = maxBufferSize;
        ClosingRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested
            ?? CancellationToken.None;
    }

    /// <summary>
    /// True when nothing more can be written: after <see cref="Close"/>, <see cref="Abort"/>, a reset, a limit,
    /// or the handler returning. A peer that only half-closed (FIN) does not make this true.
    /// </summary>
    public bool IsClosed => _closedLocally || _output.IsFailed;

    /// <summary>True while a read is pending.</summary>
    public bool IsReading => Volatile.Read(ref _reading) != 0;

    /// <summary>True while any <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> has not completed.</summary>
    public bool IsWriting => _output.IsWriting;

    /// <summary>
    /// The most bytes a pending read may look at without completing; past it the connection is closed and
    /// the read throws <see cref="StreamClosedException"/> with a <see cref="StreamBufferFullException"/> inside.
    /// Defaults to the server's <see cref="TcpServer.MaxBufferSize"/>.
    /// </summary>
    public long MaxBufferSize => Volatile.Read(ref _maxBufferSize);

    /// <summary>The peer's IP address as text (no port; IPv4-mapped IPv6 shown as IPv4), or the socket path for unix sockets.</summary>
    public string Address => _address ??= FormatAddress(RemoteEndPoint, LocalEndPoint);

    /// <summary>The peer's end point.</summary>
    public EndPoint? RemoteEndPoint => _connection.RemoteEndPoint;

    /// <summary>
    /// Behind a trusted PROXY-protocol peer (<see cref="TcpServer.ProxyProtocol"/>): the load balancer's end point,
    /// while <see cref="RemoteEndPoint"/> is the original client's. Null otherwise.
    /// </summary>
    public EndPoint? ProxyEndPoint => _connection.Features.Get<Proxy.IProxyPeerFeature>()?.ProxyEndPoint;

    /// <summary>The local end point the connection was accepted on.</summary>
    public EndPoint? LocalEndPoint => _connection.LocalEndPoint;

    /// <summary>What was negotiated when the connection uses TLS; null on plain TCP.</summary>
    public SslInfo? Tls => _tls ??= ReadTlsInfo();

    /// <summary>Kestrel's id of this connection, as it appears in logs.</summary>
    public string ConnectionId => _connection.ConnectionId;

    /// <summary>
    /// Cancelled when the server is stopping or draining and asks this connection to finish. It only signals:
    /// it cancels no pending read. Pass it to reads to end a handler gracefully.
    /// </summary>
    public CancellationToken ClosingRequested { get; }

    /// <summary>Cancelled when the peer closed or reset the connection, or the stream was closed locally.</summary>
    public CancellationToken Closed => EnsureClosedSource().Token;

    /// <summary>
    /// Sets the callback that runs once when the stream closes: the peer closes or resets, or the stream is
    /// closed locally, whether or not the handler ever read or wrote. It runs on the thread pool; if the stream
    /// is already closed, it runs at once. <c>null</c> removes the callback.
    /// </summary>
    /// <param name="callback">The callback, or <c>null</c>.</param>
    public void SetCloseCallback(Action? callback)
    {
        _closeCallbackRegistration.Dispose();
        _closeCallbackRegistration = callback is null
            ? default
            : Closed.UnsafeRegister(
                static state => ThreadPool.UnsafeQueueUserWorkItem(
                    static s => s.Stream.RunCloseCallback(s.Callback), ((IOStream Stream, Action Callback))state!, preferLocal: false),
                (this, callback));
    }

    /// <summary>Changes <see cref="MaxBufferSize"/> for this stream.</summary>
    /// <param name="bytes">The new limit, at least 1.</param>
    public void SetMaxBufferSize(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        Volatile.Write(ref _maxBufferSize, bytes);
    }

    /// <summary>
    /// Closes the stream: every byte already written is sent, then FIN. Pending and later reads that the
    /// buffer cannot satisfy throw <see cref="StreamClosedException"/>. Calling it again does nothing.
    /// </summary>
    public void Close() => _ = CloseCoreAsync();

    /// <summary>
    /// Aborts the connection: pending output is dropped, the connection is reset (RST), pending reads and
    /// writes throw <see cref="StreamClosedException"/>.
    /// </summary>
    public void Abort() => AbortCore(new ConnectionAbortedException("The stream was aborted."));

    /// <summary>A limit closes the connection: pending and later reads and writes say which.</summary>
    /// <param name="reason">What the reads and writes throw, inside their <see cref="StreamClosedException"/>.</param>
    /// <param name="limit">The limit's name in metrics (<c>turbo.limit</c>).</param>
    internal void AbortByLimit(TimeoutException reason, string limit)
    {
        _closedByLimit = limit;
        _limitFailure = reason;
        AbortCore(reason);
    }

    /// <summary>The name of the limit that closed the connection (<c>turbo.limit</c>), or null.</summary>
    internal string? ClosedByLimit => _closedByLimit;

    private void AbortCore(Exception reason)
    {
        _closedLocally = true;
        _output.Abort(reason);
        try
        {
            // SO_LINGER 0: the close that follows sends RST instead of FIN.
            if (_connection.Features.Get<IConnectionSocketFeature>() is { } socketFeature)
            {
                socketFeature.Socket.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // Already gone.
        }

        _connection.Abort(reason as ConnectionAbortedException ?? new ConnectionAbortedException(reason.Message, reason));
        _input.CancelPendingRead();
        SignalClosed();
    }

    /// <summary>Closes after flushing; completes when the output is finished.</summary>
    internal Task CloseCoreAsync()
    {
        _closedLocally = true;
        var drained = _output.CompleteAsync();
        _input.CancelPendingRead();
        SignalClosed();
        return drained;
    }

    private CancellationTokenSource EnsureClosedSource()
    {
        var source = Volatile.Read(ref _closedSource);
        if (source is not null)
        {
            return source;
        }

        source = new CancellationTokenSource();
        var existing = Interlocked.CompareExchange(ref _closedSource, source, null);
        if (existing is not null)
        {
            source.Dispose();
            return existing;
        }

        // The transport's token fires on the peer's FIN or RST, even when nobody is reading.
        _connection.ConnectionClosed.UnsafeRegister(static s => ((IOStream)s!).SignalClosed(), this);
        if (Volatile.Read(ref _closedSignalled) != 0)
        {
            source.Cancel();
        }

        return source;
    }

    private void SignalClosed()
    {
        Interlocked.Exchange(ref _closedSignalled, 1);
        var source = Volatile.Read(ref _closedSource);
        if (source is not null && !source.IsCancellationRequested)
        {
            try
            {
                source.Cancel();
            }
            catch (AggregateException ex)
            {
                TurboLog.CloseCallbackFailed(_logger, ConnectionId, ex);
            }
        }
    }

    private void RunCloseCallback(Action callback)
    {
        try
        {
            callback();
        }
#pragma warning disable CA1031 // A user callback must not take the process down; its failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            TurboLog.CloseCallbackFailed(_logger, ConnectionId, ex);
        }
    }

    private SslInfo? ReadTlsInfo()
    {
        var handshake = _connection.Features.Get<ITlsHandshakeFeature>();
        if (handshake is null)
        {
            return null;
        }

        var certificate = _connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;

        // Kestrel fills HostName only when it selects certificates by SNI; the SslStream always knows it.
        var hostName = string.IsNullOrEmpty(handshake.HostName)
            ? _connection.Features.Get<ISslStreamFeature>()?.SslStream.TargetHostName
            : handshake.HostName;
        return new SslInfo(handshake.Protocol, certificate, string.IsNullOrEmpty(hostName) ? null : hostName);
    }

    private static string FormatAddress(EndPoint? remote, EndPoint? local) => remote switch
    {
        IPEndPoint ip => (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address).ToString(),
        UnixDomainSocketEndPoint => local?.ToString() ?? string.Empty,
        null => local is UnixDomainSocketEndPoint ? local.ToString() ?? string.Empty : string.Empty,
        _ => remote.ToString() ?? string.Empty,
    };
}
