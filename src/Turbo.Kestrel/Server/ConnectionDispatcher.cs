using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Limits;
using Turbo.Kestrel.Listening;
using Turbo.Kestrel.Proxy;
using Turbo.Kestrel.Tls;

namespace Turbo.Kestrel.Server;

/// <summary>
/// One server's path from an accepted connection to its handler and back. <see cref="Install"/> puts it on a listener
/// as Kestrel connection middleware, in this order: admission under <see cref="ConnectionLimits.MaxConnections"/>
/// (<see cref="AdmitAsync"/>), the PROXY header, the TLS handshake, then <see cref="RunAsync"/>: the connection's watch,
/// its <see cref="IOStream"/>, a log scope, the handler, and the end (stream finished, metrics, log).
/// </summary>
internal sealed class ConnectionDispatcher
{
    private readonly TcpServer _server;
    private readonly TimeProvider _time;

    public ConnectionDispatcher(TcpServer server, IOLoop loop)
    {
        _server = server;
        _time = loop.TimeProvider;
        Logger = loop.LoggerFactory.CreateLogger(TurboLog.Category);
        Watchdog = new ConnectionWatchdog(server, loop.TimeProvider, Logger);
    }

    /// <summary>Where the server logs.</summary>
    public ILogger Logger { get; }

    /// <summary>The server's admission count and timeouts, on the loop's clock.</summary>
    public ConnectionWatchdog Watchdog { get; }

    /// <summary>
    /// Puts the server's connection pipeline on a listener, with the server's PROXY settings as they are now.
    /// </summary>
    /// <param name="listen">The listener's options.</param>
    /// <param name="tls">The TLS the listener starts with, or null for plain TCP.</param>
    /// <param name="metrics">The listener's instruments.</param>
    /// <param name="group">The Kestrel instance the listener belongs to, told when each connection ends.</param>
    /// <exception cref="InvalidOperationException">PROXY protocol is on without trusted proxies.</exception>
    public void Install(ListenOptions listen, TlsEndpoint? tls, EndpointMetrics metrics, ListenerGroup group)
    {
        var proxy = CreateProxyMiddleware();
        listen.Protocols = HttpProtocols.None;

        // Outermost: every accepted connection ends here, also one whose TLS handshake fails.
        listen.Use(next => connection => AdmitAsync(connection, next, metrics, group));
        if (proxy is not null)
        {
            // The PROXY header comes before anything else, TLS included.
            listen.Use(next => connection => proxy.OnConnectionAsync(connection, next, metrics));
        }

        if (tls is not null)
        {
            TransportUnderTls.Keep(listen);
            tls.Apply(listen);
        }

        listen.Run(connection => RunAsync(connection, metrics));
    }

    /// <summary>
    /// Counts the connection in, or, when the server holds <see cref="ConnectionLimits.MaxConnections"/>, closes it at
    /// once, before its PROXY header or handshake.
    /// </summary>
    private async Task AdmitAsync(ConnectionContext connection, ConnectionDelegate next, EndpointMetrics metrics, ListenerGroup group)
    {
        if (!Watchdog.TryAdmit(connection.ConnectionId))
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
            Watchdog.Release();
            group.OnConnectionEnded();
        }
    }

    /// <summary>Runs the handler on the connection's stream, then closes the stream and accounts for the connection.</summary>
    private async Task RunAsync(ConnectionContext connection, EndpointMetrics metrics)
    {
        var started = Stopwatch.GetTimestamp();
        var name = _server.Name;
        var watch = Watchdog.Watch();
        var stream = new IOStream(connection, _server.MaxBufferSize, Logger, watch, metrics);
        if (watch is not null)
        {
            watch.Stream = stream;
            Watchdog.Track(watch);
        }

        metrics.ConnectionStarted();
        string? errorType = null;
        using var scope = Logger.IsEnabled(LogLevel.Critical) ? Logger.BeginScope(new ConnectionLogScope(connection.ConnectionId, name)) : null;
        try
        {
            await _server.HandleAsync(stream).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsNormalEnd(ex, stream))
        {
            TurboLog.HandlerEndedByClosedStream(Logger, connection.ConnectionId, name, ex);
        }
#pragma warning disable CA1031 // A failing handler must close only its own connection; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            errorType = ex.GetType().FullName;
            TurboLog.HandlerFailed(Logger, connection.ConnectionId, name, ex);
        }
        finally
        {
            try
            {
                await stream.FinishAsync().ConfigureAwait(false);
                if (watch is not null)
                {
                    Watchdog.Untrack(watch);
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

    private ProxyProtocolMiddleware? CreateProxyMiddleware()
    {
        var options = _server.ProxyProtocol;
        if (options.Mode == ProxyProtocolMode.Off)
        {
            return null;
        }

        if (options.TrustedProxies.Count == 0)
        {
            throw new InvalidOperationException($"Server {_server.Name}: ProxyProtocol.Mode is {options.Mode}, but no TrustedProxies are given; a PROXY header is accepted only from listed proxies.");
        }

        return new ProxyProtocolMiddleware(options, Logger, _time);
    }
}
