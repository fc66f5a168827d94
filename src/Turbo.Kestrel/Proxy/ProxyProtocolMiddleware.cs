using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Proxy;

/// <summary>
/// Reads the PROXY header in front of a connection, before TLS and the handler: from a trusted proxy, complete and
/// valid within the header timeout, or the connection is closed. Only the header's bytes are consumed.
/// </summary>
internal sealed class ProxyProtocolMiddleware(ProxyProtocolOptions options, ILogger logger, TimeProvider time)
{
    private readonly ProxyProtocolMode _mode = options.Mode;
    private readonly IPNetwork[] _trusted = [.. options.TrustedProxies];
    private readonly TimeSpan _timeout = options.HeaderTimeout;

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next, EndpointMetrics? metrics = null)
    {
        var peer = connection.RemoteEndPoint;
        if (peer is IPEndPoint ip && !IsTrusted(ip.Address))
        {
            TurboLog.ProxyUntrusted(logger, connection.ConnectionId, ip.Address);
            metrics?.Rejected("proxy_untrusted");
            connection.Abort(new ConnectionAbortedException("Untrusted PROXY protocol peer."));
            return;
        }

        var header = await ReadHeaderAsync(connection).ConfigureAwait(false);
        if (header is null)
        {
            metrics?.Rejected("proxy_header");
            return;
        }

        if (header.Source is not null)
        {
            connection.Features.Set<IProxyPeerFeature>(new ProxyPeerFeature(peer));
            connection.RemoteEndPoint = header.Source;
            connection.LocalEndPoint = header.Destination ?? connection.LocalEndPoint;
        }

        await next(connection).ConfigureAwait(false);
    }

    private async Task<ProxyHeader?> ReadHeaderAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var timeout = new CancellationTokenSource(_timeout, time);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var status = ProxyHeaderParser.TryParse(buffer, _mode is ProxyProtocolMode.V1 or ProxyProtocolMode.Any,
                    _mode is ProxyProtocolMode.V2 or ProxyProtocolMode.Any, out var header, out var error);
                if (status == ProxyParseStatus.Parsed)
                {
                    input.AdvanceTo(buffer.GetPosition(header!.Length));
                    return header;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (status == ProxyParseStatus.Invalid || result.IsCompleted)
                {
                    return Reject(connection, error ?? "the connection ended inside the PROXY header");
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return Reject(connection, $"no complete PROXY header within {_timeout}");
        }
#pragma warning disable CA1031 // A reset (or anything else) before the handler runs closes only this connection.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return Reject(connection, $"the connection failed inside the PROXY header ({ex.GetType().Name}: {ex.Message})");
        }
    }

    private ProxyHeader? Reject(ConnectionContext connection, string reason)
    {
        TurboLog.ProxyRejected(logger, connection.ConnectionId, reason);
        connection.Abort(new ConnectionAbortedException("Bad PROXY protocol header: " + reason));
        return null;
    }

    private bool IsTrusted(IPAddress address)
    {
        var candidate = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in _trusted)
        {
            if (network.Contains(candidate))
            {
                return true;
            }
        }

        return false;
    }
}
