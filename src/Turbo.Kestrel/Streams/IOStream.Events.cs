using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    // Bytes the metrics have been told about; only the reading side touches these.
    private const long BytesReportedEvery = 64 * 1024;
    private long _bytesReadReported;
    private long _bytesWrittenReported;

    /// <summary>Where the buffers log (with <see cref="ConnectionId"/>).</summary>
    internal ILogger Logger => _logger;

    /// <summary>
    /// A read is about to wait for the peer: the answers to the requests read so far leave first, and a long
    /// connection's traffic shows in the metrics while it runs (without a counter update per message).
    /// </summary>
    internal void OnReadWaiting()
    {
        _output.FlushDeferred();
        if (_metrics is { } metrics
            && (_input.BytesRead - _bytesReadReported >= BytesReportedEvery || _output.BytesWritten - _bytesWrittenReported >= BytesReportedEvery))
        {
            metrics.ReportBytes(this);
        }
    }

    /// <summary>The transport's input failed (reset, abort): nothing more can be written either.</summary>
    internal void OnInputFailed(Exception cause)
    {
        _output.Abort(cause);
        SignalClosed();
    }

    /// <summary>A read limit (<c>max_bytes</c>, <c>max_buffer_size</c>) ended a read: the stream is closed, output flushed first.</summary>
    internal void CloseByReadLimit(string limit)
    {
        _closedByLimit = limit;
        _ = CloseCoreAsync();
    }

    /// <summary>
    /// The handler has yielded after a read that waited delivered its result (<see cref="OutputQueue.BeginDelivery"/>):
    /// the answers it deferred in this turn leave now, in one flush.
    /// </summary>
    internal void EndDelivery() => _output.EndDelivery();

    /// <summary>The bytes read and written since the last call (metrics report them, see <c>EndpointMetrics</c>).</summary>
    internal (long Read, long Written) TakeByteCounts()
    {
        var read = _input.BytesRead;
        var written = _output.BytesWritten;
        var counts = (read - _bytesReadReported, written - _bytesWrittenReported);
        _bytesReadReported = read;
        _bytesWrittenReported = written;
        return counts;
    }
}
