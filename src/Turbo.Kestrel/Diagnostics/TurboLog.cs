using System.Net;
using Microsoft.Extensions.Logging;

namespace Turbo.Kestrel.Diagnostics;

/// <summary>
/// Every log message Turbo.Kestrel writes, with stable event ids (documented in docs/logging.md).
/// Category: <c>Turbo.Kestrel</c>.
/// </summary>
internal static partial class TurboLog
{
    public const string Category = "Turbo.Kestrel";

    [LoggerMessage(EventId = 1, EventName = "HandlerFailed", Level = LogLevel.Error,
        Message = "Connection {ConnectionId}: HandleStreamAsync of server {Server} threw; the connection was closed.")]
    public static partial void HandlerFailed(ILogger logger, string connectionId, string server, Exception exception);

    [LoggerMessage(EventId = 2, EventName = "HandlerEndedByClosedStream", Level = LogLevel.Debug,
        Message = "Connection {ConnectionId}: HandleStreamAsync of server {Server} ended because its stream closed.")]
    public static partial void HandlerEndedByClosedStream(ILogger logger, string connectionId, string server, Exception exception);

    [LoggerMessage(EventId = 3, EventName = "BufferFull", Level = LogLevel.Warning,
        Message = "Connection {ConnectionId}: a read looked at {Examined} bytes without completing, more than MaxBufferSize ({MaxBufferSize}); closing the connection.")]
    public static partial void BufferFull(ILogger logger, string connectionId, long examined, long maxBufferSize);

    [LoggerMessage(EventId = 4, EventName = "UnsatisfiableRead", Level = LogLevel.Information,
        Message = "Connection {ConnectionId}: the delimiter or pattern did not end within maxBytes ({MaxBytes}); closing the connection.")]
    public static partial void UnsatisfiableRead(ILogger logger, string connectionId, int maxBytes);

    [LoggerMessage(EventId = 5, EventName = "CloseCallbackFailed", Level = LogLevel.Error,
        Message = "Connection {ConnectionId}: the close callback threw.")]
    public static partial void CloseCallbackFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(EventId = 10, EventName = "Listening", Level = LogLevel.Information,
        Message = "Server {Server} is listening on {EndPoint}.")]
    public static partial void Listening(ILogger logger, string server, EndPoint endPoint);

    [LoggerMessage(EventId = 11, EventName = "StoppedListening", Level = LogLevel.Information,
        Message = "Server {Server} stopped listening on {EndPoint}.")]
    public static partial void StoppedListening(ILogger logger, string server, EndPoint endPoint);

    [LoggerMessage(EventId = 20, EventName = "ReloadRejected", Level = LogLevel.Error,
        Message = "The changed Turbo configuration was not applied: {Reason} The running endpoints are unchanged.")]
    public static partial void ReloadRejected(ILogger logger, string reason, Exception exception);

    [LoggerMessage(EventId = 21, EventName = "ReloadEndpointFailed", Level = LogLevel.Error,
        Message = "A reloaded endpoint could not be started: {Reason} The other endpoints were applied.")]
    public static partial void ReloadEndpointFailed(ILogger logger, string reason, Exception exception);

    [LoggerMessage(EventId = 30, EventName = "CertificateReloaded", Level = LogLevel.Information,
        Message = "Server {Server} reloaded its TLS certificate from {CertFile}; new connections use it.")]
    public static partial void CertificateReloaded(ILogger logger, string server, string certFile);

    [LoggerMessage(EventId = 31, EventName = "CertificateReloadFailed", Level = LogLevel.Warning,
        Message = "Server {Server} could not reload its TLS certificate: {Reason} It keeps the one it has.")]
    public static partial void CertificateReloadFailed(ILogger logger, string server, string reason, Exception exception);

    [LoggerMessage(EventId = 40, EventName = "ProxyRejected", Level = LogLevel.Information,
        Message = "Connection {ConnectionId}: closed before the handler: {Reason}.")]
    public static partial void ProxyRejected(ILogger logger, string connectionId, string reason);

    [LoggerMessage(EventId = 41, EventName = "ProxyUntrusted", Level = LogLevel.Information,
        Message = "Connection {ConnectionId}: closed before the handler: {Peer} is not a trusted PROXY protocol peer.")]
    public static partial void ProxyUntrusted(ILogger logger, string connectionId, IPAddress peer);

    [LoggerMessage(EventId = 12, EventName = "Draining", Level = LogLevel.Information,
        Message = "Server {Server} is draining {Connections} open connections; they get {DrainTimeout}.")]
    public static partial void Draining(ILogger logger, string server, int connections, string drainTimeout);

    [LoggerMessage(EventId = 50, EventName = "ConnectionRefused", Level = LogLevel.Debug,
        Message = "Connection {ConnectionId}: refused; server {Server} holds MaxConnections ({MaxConnections}).")]
    public static partial void ConnectionRefused(ILogger logger, string connectionId, string server, int maxConnections);

    [LoggerMessage(EventId = 51, EventName = "MaxConnectionsReached", Level = LogLevel.Warning,
        Message = "Server {Server} holds MaxConnections ({MaxConnections}) and refused {Refused} connections since the last report (reported at most every 10 s).")]
    public static partial void MaxConnectionsReached(ILogger logger, string server, int maxConnections, long refused);

    [LoggerMessage(EventId = 52, EventName = "IdleTimeout", Level = LogLevel.Debug,
        Message = "Connection {ConnectionId} of server {Server}: closed, {Reason}.")]
    public static partial void IdleTimeout(ILogger logger, string connectionId, string server, string reason);

    [LoggerMessage(EventId = 53, EventName = "WriteTimeout", Level = LogLevel.Information,
        Message = "Connection {ConnectionId} of server {Server}: closed, {Reason}.")]
    public static partial void WriteTimeout(ILogger logger, string connectionId, string server, string reason);

    [LoggerMessage(EventId = 54, EventName = "MinReadRate", Level = LogLevel.Information,
        Message = "Connection {ConnectionId} of server {Server}: closed, {Reason}.")]
    public static partial void MinReadRate(ILogger logger, string connectionId, string server, string reason);

    [LoggerMessage(EventId = 60, EventName = "AcceptFailed", Level = LogLevel.Warning,
        Message = "Accepting on {EndPoint} failed ({Error}); retrying in {RetryMilliseconds} ms. Connections wait in the backlog meanwhile.")]
    public static partial void AcceptFailed(ILogger logger, string endPoint, string error, int retryMilliseconds);

    [LoggerMessage(EventId = 61, EventName = "AcceptResumed", Level = LogLevel.Information,
        Message = "Accepting on {EndPoint} works again.")]
    public static partial void AcceptResumed(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 62, EventName = "AcceptedConnectionDropped", Level = LogLevel.Debug,
        Message = "A connection accepted on {EndPoint} could not be set up and was closed; accepting goes on.")]
    public static partial void AcceptedConnectionDropped(ILogger logger, string endPoint, Exception error);
}
