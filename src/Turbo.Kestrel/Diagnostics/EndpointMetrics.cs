using System.Diagnostics;
using System.Net;

namespace Turbo.Kestrel.Diagnostics;

/// <summary>
/// The instruments of one listening socket, with its tags made once: <c>turbo.server</c> (the server's name),
/// <c>server.address</c> and, for IP endpoints, <c>server.port</c>.
/// </summary>
internal sealed class EndpointMetrics
{
    /// <summary>Tag: the server's name (<c>AddServer</c>'s name, or the type name).</summary>
    public const string ServerTag = "turbo.server";

    /// <summary>Tag on <c>turbo.rejected_connections</c>: why.</summary>
    public const string RejectionReasonTag = "turbo.rejection.reason";

    /// <summary>Tag on <c>turbo.limit_closed_connections</c>: which limit.</summary>
    public const string LimitTag = "turbo.limit";

    private readonly TurboMetrics _metrics;
    private readonly KeyValuePair<string, object?>[] _tags;

    public EndpointMetrics(TurboMetrics metrics, string server, EndPoint? endPoint)
    {
        _metrics = metrics;
        _tags = endPoint switch
        {
            IPEndPoint ip =>
            [
                new(ServerTag, server),
                new("server.address", ip.Address.ToString()),
                new("server.port", ip.Port),
            ],
            _ => [new(ServerTag, server), new("server.address", endPoint?.ToString() ?? "")],
        };
    }

    /// <summary>A handler starts: counted as active until <see cref="ConnectionEnded"/>.</summary>
    public void ConnectionStarted() => _metrics.ActiveConnections.Add(1, _tags);

    /// <summary>
    /// A handler's connection has ended: its duration, the bytes not yet reported, the limit that closed it and the
    /// handler's failure, if any.
    /// </summary>
    /// <param name="startTimestamp">When the handler started (<see cref="Stopwatch.GetTimestamp"/>).</param>
    /// <param name="stream">The connection's stream, finished.</param>
    /// <param name="errorType">The handler's exception type, when it failed.</param>
    public void ConnectionEnded(long startTimestamp, IOStream stream, string? errorType)
    {
        _metrics.ActiveConnections.Add(-1, _tags);
        ReportBytes(stream);
        var tags = new TagList(_tags);
        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
            _metrics.HandlerErrors.Add(1, tags);
        }

        _metrics.ConnectionDuration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
        if (stream.ClosedByLimit is { } limit)
        {
            var limitTags = new TagList(_tags) { { LimitTag, limit } };
            _metrics.LimitClosedConnections.Add(1, limitTags);
        }
    }

    /// <summary>Adds the bytes the stream read and wrote since its last report.</summary>
    public void ReportBytes(IOStream stream)
    {
        var (read, written) = stream.TakeByteCounts();
        if (read > 0)
        {
            _metrics.BytesRead.Add(read, _tags);
        }

        if (written > 0)
        {
            _metrics.BytesWritten.Add(written, _tags);
        }
    }

    /// <summary>A connection was closed before its handler ran.</summary>
    /// <param name="reason"><c>max_connections</c>, <c>proxy_untrusted</c> or <c>proxy_header</c>.</param>
    public void Rejected(string reason)
    {
        var tags = new TagList(_tags) { { RejectionReasonTag, reason } };
        _metrics.RejectedConnections.Add(1, tags);
    }
}
