using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Limits;
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
// The stream is a facade: reads go to its InputBuffer, writes to its OutputQueue. Its partial files, side by side:
// IOStream.cs (what the connection is), .Reads.cs, .Pattern.cs, .Streaming.cs, .Writes.cs, .Lifetime.cs (close,
// abort, the close signal, the end of the handler) and .Events.cs (what the buffers tell the stream).
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "Turbo's name (turbo.iostream.IOStream), fixed by the contract.")]
public partial class IOStream
{
    private readonly ConnectionContext _connection;
    private readonly InputBuffer _input;
    private readonly OutputQueue _output;
    private readonly ILogger _logger;
    private readonly EndpointMetrics? _metrics;
    private string? _address;
    private SslInfo? _tls;

    internal IOStream(ConnectionContext connection, long maxBufferSize, ILogger logger, ConnectionWatch? watch = null, EndpointMetrics? metrics = null)
    {
        _connection = connection;
        _logger = logger;
        _metrics = metrics;
        _output = new OutputQueue(connection.Transport.Output, watch);
        _input = new InputBuffer(this, connection.Transport.Input, maxBufferSize, watch);
        ClosingRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested
            ?? CancellationToken.None;
    }

    /// <summary>
    /// True when nothing more can be written: after <see cref="Close"/>, <see cref="Abort"/>, a reset, a limit,
    /// or the handler returning. A peer that only half-closed (FIN) does not make this true.
    /// </summary>
    public bool IsClosed => _input.IsClosedLocally || _output.IsFailed;

    /// <summary>True while a read is pending.</summary>
    public bool IsReading => _input.IsReading;

    /// <summary>True while any <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> has not completed.</summary>
    public bool IsWriting => _output.IsWriting;

    /// <summary>
    /// The most bytes a pending read may look at without completing; past it the connection is closed and
    /// the read throws <see cref="StreamClosedException"/> with a <see cref="StreamBufferFullException"/> inside.
    /// Defaults to the server's <see cref="TcpServer.MaxBufferSize"/>.
    /// </summary>
    public long MaxBufferSize => _input.MaxBufferSize;

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

    /// <summary>Changes <see cref="MaxBufferSize"/> for this stream.</summary>
    /// <param name="bytes">The new limit, at least 1.</param>
    public void SetMaxBufferSize(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1);
        _input.MaxBufferSize = bytes;
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
