using System.Globalization;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Streams;

// How a read ends without its result: a limit (maxBytes, MaxBufferSize), the peer's FIN or reset, this side closing;
// and the end of the handler, after which no read may start and the buffered bytes go back to the pipe.
internal sealed partial class InputBuffer
{
    /// <summary>
    /// The status of a read that cannot complete with the <paramref name="examined"/> bytes: it needs more, or, when
    /// more can never come or it may not hold more, it failed.
    /// </summary>
    public ReadStatus NeedMoreOrFail(long examined, out Exception? error)
    {
        error = WhyNoMore(examined);
        return error is null ? ReadStatus.NeedMore : ReadStatus.Failed;
    }

    /// <summary>The read side failed (reset, abort): nothing more can be read, and the stream is told.</summary>
    public StreamClosedException InputFailed(Exception cause)
    {
        _inputCompleted = true;
        _inputFailure = cause;
        owner.OnInputFailed(cause);
        return PeerGone();
    }

    /// <summary>
    /// This side closed the stream: reads that need more fail from now on, with <paramref name="limitFailure"/> inside
    /// when a limit closed it. <see cref="WakePendingRead"/> then ends a read that is waiting.
    /// </summary>
    public void MarkClosed(TimeoutException? limitFailure = null)
    {
        if (limitFailure is not null)
        {
            _limitFailure = limitFailure;
        }

        _closedLocally = true;
    }

    /// <summary>Ends a pending wait for the transport: the read looks at the buffer again and fails if it was closed.</summary>
    public void WakePendingRead() => reader.CancelPendingRead();

    /// <summary>
    /// The buffer limit is hit: logs it, closes the connection (output flushed, then FIN), and makes the read's
    /// exception, with a <see cref="StreamBufferFullException"/> inside.
    /// </summary>
    /// <param name="bytes">How many bytes the read looked at, or asked for.</param>
    /// <param name="what">The start of the message, with <c>{0}</c> for <paramref name="bytes"/>.</param>
    public StreamClosedException BufferFull(long bytes, string what)
    {
        var limit = MaxBufferSize;
        TurboLog.BufferFull(owner.Logger, owner.ConnectionId, bytes, limit);
        var cause = new StreamBufferFullException(
            string.Format(CultureInfo.InvariantCulture, what, bytes) + $", more than MaxBufferSize ({limit} bytes).");
        ReleaseBuffered();
        owner.CloseByReadLimit("max_buffer_size");
        return new StreamClosedException("The connection was closed: " + cause.Message, cause);
    }

    /// <summary>The handler has returned: no read may start from now on.</summary>
    public void Finish() => _finished = true;

    /// <summary>Waits for a pending read (a streaming callback, typically) to end; false when it did not in time.</summary>
    public async Task<bool> PendingReadEndsWithinAsync(TimeSpan timeout)
    {
        if (Volatile.Read(ref _reading) == 0)
        {
            return true;
        }

        var readEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _readEnded, readEnded);
        return Volatile.Read(ref _reading) == 0
            || await Task.WhenAny(readEnded.Task, Task.Delay(timeout)).ConfigureAwait(false) == readEnded.Task;
    }

    /// <summary>A streaming callback outlived its handler: the read stops without touching the buffer again.</summary>
    public void Abandon() => _abandoned = true;

    /// <summary>Returns the buffered bytes' memory to the pipe, unless a read (an abandoned one) still holds the guard.</summary>
    public void ReleaseIfIdle()
    {
        if (Interlocked.CompareExchange(ref _reading, 1, 0) == 0)
        {
            ReleaseBuffered();
            Volatile.Write(ref _reading, 0);
        }
    }

    private ReadStatus CheckThrough(long end, long examined, int? maxBytes, bool lookahead, out Exception? error)
    {
        if (end > maxBytes || (end < 0 && (lookahead ? examined > maxBytes : examined >= maxBytes)))
        {
            error = Unsatisfiable(maxBytes!.Value);
            return ReadStatus.Failed;
        }

        if (end >= 0)
        {
            error = null;
            return ReadStatus.Complete;
        }

        return NeedMoreOrFail(examined, out error);
    }

    /// <summary>Why the pending read can never complete, or null while more bytes may still arrive and fit.</summary>
    private StreamClosedException? WhyNoMore(long examined)
    {
        if (examined > MaxBufferSize)
        {
            return BufferFull(examined, "A read looked at {0} bytes without completing");
        }

        if (_inputFailure is not null)
        {
            return PeerGone();
        }

        if (_closedLocally)
        {
            return _limitFailure is { } limit
                ? new StreamClosedException(limit.Message, limit)
                : new StreamClosedException("The stream was closed before the read could complete.");
        }

        return _inputCompleted
            ? new StreamClosedException(
                $"The peer closed the connection before the read could complete; {examined} unread bytes stay available to ReadUntilCloseAsync.")
            : null;
    }

    private UnsatisfiableReadException Unsatisfiable(int maxBytes)
    {
        TurboLog.UnsatisfiableRead(owner.Logger, owner.ConnectionId, maxBytes);
        ReleaseBuffered();
        owner.CloseByReadLimit("max_bytes");
        return new UnsatisfiableReadException(
            $"The delimiter or pattern did not end within maxBytes ({maxBytes} bytes); the connection was closed.");
    }

    private StreamClosedException PeerGone() => _limitFailure is { } limit
        ? new(limit.Message, limit)
        : new("The connection was reset or aborted.", _inputFailure);

    /// <summary>Returns the buffered bytes' memory to the pipe at once (after a limit, or when the handler is done).</summary>
    private void ReleaseBuffered()
    {
        if (_holding)
        {
            _holding = false;
            try
            {
                reader.AdvanceTo(_buffered.End);
            }
            catch (InvalidOperationException)
            {
                // The transport already completed the pipe and took its memory back.
            }
        }

        _buffered = default;
    }
}
