using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    // Bytes received and not yet returned by a read. While _holding is true they are the unconsumed part of
    // the last ReadResult, not yet advanced past: the next read is served from them without touching the pipe.
    private ReadOnlySequence<byte> _buffered;
    private bool _holding;
    private bool _inputCompleted;
    private Exception? _inputFailure;
    private int _reading;
    private volatile bool _finished;
    private volatile bool _abandoned;
    private TaskCompletionSource? _readEnded;
    private string? _lastDelimiterText;

    // The last read left more bytes buffered: the handler is answering pipelined requests, and its writes may share
    // one flush (see OutputQueue.WriteAsync). A hint for writes from any thread; a wrong guess only moves a flush.
    private volatile bool _answeringPipelined;

    // The read drivers, one per read kind (see ReadDriver). While a driver retries its operation, a read that can
    // no longer complete returns its error through _returnedFailure instead of throwing it.
    private const int ReadKinds = 6;
    private object?[]? _drivers;
    private bool _failuresReturned;
    private Exception? _returnedFailure;
    private byte[]? _lastDelimiterBytes;

    // Bytes the reads returned, and how many of them (and of the written ones) metrics have been told about. Only the
    // reading side touches these.
    private const long BytesReportedEvery = 64 * 1024;
    private long _bytesRead;
    private long _bytesReadReported;
    private long _bytesWrittenReported;

    /// <summary>
    /// Reads until <paramref name="delimiter"/> and returns everything up to and including it.
    /// </summary>
    /// <param name="delimiter">The delimiter; not empty. It is found as soon as its last byte arrives, however the bytes were split into segments.</param>
    /// <param name="maxBytes">When the delimiter does not end within this many bytes, the connection is closed and the read throws <see cref="UnsatisfiableReadException"/>. A delimiter ending exactly at <paramref name="maxBytes"/> succeeds.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered for the next read.</param>
    /// <returns>The bytes up to and including the delimiter.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <exception cref="StreamClosedException">The stream closed before the delimiter arrived; unread bytes stay available to <see cref="ReadUntilCloseAsync(CancellationToken)"/> after a peer FIN.</exception>
    /// <exception cref="UnsatisfiableReadException">The delimiter did not end within <paramref name="maxBytes"/>.</exception>
    public ValueTask<byte[]> ReadUntilAsync(ReadOnlyMemory<byte> delimiter, int? maxBytes = null, CancellationToken cancellationToken = default)
    {
        if (delimiter.IsEmpty)
        {
            throw new ArgumentException("The delimiter must not be empty.", nameof(delimiter));
        }

        ValidateMaxBytes(maxBytes);
        BeginRead();
        return Read<DelimiterRead, byte[]>(new DelimiterRead(delimiter, maxBytes), endsRead: true, cancellationToken);
    }

    /// <summary>
    /// Reads until <paramref name="delimiter"/> (encoded as UTF-8) and returns everything up to and including it.
    /// </summary>
    /// <param name="delimiter">The delimiter; not empty.</param>
    /// <param name="maxBytes">As for <see cref="ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/>.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>The bytes up to and including the delimiter.</returns>
    public ValueTask<byte[]> ReadUntilAsync(string delimiter, int? maxBytes = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(delimiter);
        ValidateMaxBytes(maxBytes);
        BeginRead();

        // Handlers pass the same literal each time: encode it once.
        if (!ReferenceEquals(delimiter, _lastDelimiterText))
        {
            _lastDelimiterBytes = Encoding.UTF8.GetBytes(delimiter);
            _lastDelimiterText = delimiter;
        }

        return Read<DelimiterRead, byte[]>(new DelimiterRead(_lastDelimiterBytes, maxBytes), endsRead: true, cancellationToken);
    }

    /// <summary>
    /// Reads until <paramref name="delimiter"/> into <paramref name="destination"/>, without allocating: the
    /// allocation-free form of <see cref="ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/>, with the
    /// buffer's length as <c>maxBytes</c>.
    /// </summary>
    /// <param name="delimiter">The delimiter; not empty.</param>
    /// <param name="destination">Where the line goes, delimiter included. Its length is the longest line accepted: a
    /// longer one closes the connection and throws <see cref="UnsatisfiableReadException"/>, as <c>maxBytes</c> does.
    /// The bytes after the line stay buffered.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>How many bytes were written to <paramref name="destination"/>: the line and its delimiter.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <exception cref="StreamClosedException">The stream closed before the delimiter arrived.</exception>
    /// <exception cref="UnsatisfiableReadException">The line is longer than <paramref name="destination"/>.</exception>
    public ValueTask<int> ReadUntilAsync(ReadOnlyMemory<byte> delimiter, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (delimiter.IsEmpty)
        {
            throw new ArgumentException("The delimiter must not be empty.", nameof(delimiter));
        }

        if (destination.Length < delimiter.Length)
        {
            throw new ArgumentException("The destination must hold at least the delimiter.", nameof(destination));
        }

        BeginRead();
        return Read<DelimiterIntoRead, int>(new DelimiterIntoRead(delimiter, destination), endsRead: true, cancellationToken);
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes, or with <paramref name="partial"/> between 1 and
    /// <paramref name="count"/> bytes as soon as any are there. <c>count = 0</c> returns an empty array.
    /// </summary>
    /// <param name="count">How many bytes; not negative.</param>
    /// <param name="partial">Return what is there (at least one byte) instead of waiting for all of them.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>The bytes read.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <exception cref="StreamClosedException">The stream closed before enough bytes arrived; or, without <paramref name="partial"/>,
    /// <paramref name="count"/> is above <see cref="MaxBufferSize"/>: the read could never complete, so the connection is closed at once
    /// and the exception's <see cref="Exception.InnerException"/> is a <see cref="StreamBufferFullException"/>.</exception>
    public ValueTask<byte[]> ReadBytesAsync(int count, bool partial = false, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        BeginRead();
        if (!partial && count > MaxBufferSize)
        {
            // It could only complete by holding more than the limit: fail now, before any byte is buffered for it.
            try
            {
                return ValueTask.FromException<byte[]>(BufferFull(count, "A read asked for {0} bytes"));
            }
            finally
            {
                EndRead();
            }
        }

        return Read<CountRead, byte[]>(new CountRead(count, partial), endsRead: true, cancellationToken);
    }

    /// <summary>
    /// Reads until the peer closes its side of the connection and returns every byte received, including
    /// bytes a failed read left behind.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>Every byte not yet read.</returns>
    /// <exception cref="StreamClosedException">The connection was reset, the stream was closed locally, or more than <see cref="MaxBufferSize"/> bytes arrived.</exception>
    public ValueTask<byte[]> ReadUntilCloseAsync(CancellationToken cancellationToken = default)
    {
        BeginRead();
        return Read<CloseRead, byte[]>(default, endsRead: true, cancellationToken);
    }

    /// <summary>Runs a read: from the buffered bytes when they suffice (no allocation), else by waiting for more.</summary>
    /// <remarks>The caller has taken the read guard; it is released when the read ends, before its result is seen.</remarks>
    /// <param name="operation">The read.</param>
    /// <param name="endsRead">False when the caller goes on reading under the same guard (streaming reads).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    private ValueTask<TResult> Read<TOperation, TResult>(TOperation operation, bool endsRead, CancellationToken cancellationToken)
        where TOperation : struct, IReadOperation<TResult>
    {
        try
        {
            if (operation.TryComplete(this, out var result))
            {
                EndOperation(operation, endsRead);
                return new ValueTask<TResult>(result);
            }
        }
        catch
        {
            EndOperation(operation, endsRead);
            throw;
        }

        return TakeDriver<TOperation, TResult>().Start(operation, endsRead, cancellationToken);
    }

    private void EndOperation<TOperation>(TOperation operation, bool endsRead)
        where TOperation : struct, IReadRelease
    {
        operation.Release();
        if (endsRead)
        {
            EndRead();
        }
    }

    /// <summary>A driver for a read of this kind: the stream's own, unless its last read's outcome is still untaken.</summary>
    private ReadDriver<TOperation, TResult> TakeDriver<TOperation, TResult>()
        where TOperation : struct, IReadOperation<TResult>
    {
        var kind = ReadKind<TOperation>.Index;
        var drivers = _drivers ??= new object?[ReadKinds];
        if (kind >= drivers.Length)
        {
            Array.Resize(ref _drivers, kind + 1);
            drivers = _drivers;
        }

        ref var slot = ref drivers[kind];
        if (slot is ReadDriver<TOperation, TResult> driver && driver.TryTake())
        {
            return driver;
        }

        driver = new ReadDriver<TOperation, TResult>(this);
        driver.TryTake();
        slot = driver;
        return driver;
    }

    /// <summary>Hands the buffered bytes back to the pipe as examined, and starts waiting for more.</summary>
    private ValueTask<ReadResult> StartFill(CancellationToken cancellationToken)
    {
        // Answers to the requests read so far leave before the read waits for the peer.
        _answeringPipelined = false;
        _output.FlushDeferred();
        if (_metrics is { } metrics
            && (_bytesRead - _bytesReadReported >= BytesReportedEvery || _output.BytesWritten - _bytesWrittenReported >= BytesReportedEvery))
        {
            // A long connection's traffic shows while it runs, without a counter update per message.
            metrics.ReportBytes(this);
        }

        try
        {
            if (_holding)
            {
                _holding = false;
                _input.AdvanceTo(_buffered.Start, _buffered.End);
            }

            return _input.ReadAsync(cancellationToken);
        }
#pragma warning disable CA1031 // Any failure of the transport's pipe ends the read side; it is rethrown as StreamClosedException.
        catch (Exception ex) when (!IsCallerCancellation(ex, cancellationToken))
#pragma warning restore CA1031
        {
            throw InputFailed(ex);
        }
    }

    /// <summary>
    /// After a cancelled wait: StartFill marked the buffered bytes examined, so a plain read would wait for new
    /// ones. Cancelling the pending read makes the pipe hand them back at once, for the next read.
    /// </summary>
    private void TakeBackExamined()
    {
        _input.CancelPendingRead();
        if (_input.TryRead(out var result))
        {
            Accept(result);
        }
    }

    /// <summary>
    /// Takes bytes that are already waiting in the pipe, without waiting: true when some (or the peer's FIN) were
    /// added to the buffer, false when nothing more is there now.
    /// </summary>
    private bool TakeMoreIfWaiting()
    {
        _holding = false;
        _input.AdvanceTo(_buffered.Start, _buffered.End);
        if (_input.TryRead(out var more))
        {
            Accept(more);
            return true;
        }

        TakeBackExamined();
        return false;
    }

    private void Accept(in ReadResult result)
    {
        _buffered = result.Buffer;
        _holding = true;
        _inputCompleted |= result.IsCompleted;
        _watch?.OnBytesArrived(result.Buffer.Length);
    }

    /// <summary>The read side failed (reset, abort): nothing more can be read or written.</summary>
    private StreamClosedException InputFailed(Exception cause)
    {
        _inputCompleted = true;
        _inputFailure = cause;
        _output.Abort(cause);
        SignalClosed();
        return PeerGone();
    }

    private static bool IsCallerCancellation(Exception ex, CancellationToken cancellationToken) =>
        ex is OperationCanceledException and not ConnectionAbortedException && cancellationToken.IsCancellationRequested;

    /// <summary>Serves a delimiter read from the buffered bytes, or says more are needed.</summary>
    private bool TryReadUntil(ReadOnlySpan<byte> delimiter, int? maxBytes, ref SearchCursor cursor, [NotNullWhen(true)] out byte[]? line)
    {
        if (TryFindThrough(delimiter, maxBytes, ref cursor) is var end and >= 0)
        {
            line = Consume(end);
            return true;
        }

        line = null;
        return false;
    }

    /// <summary>A delimiter read into the caller's buffer: the line's length, or -1 while it is incomplete.</summary>
    private int TryReadUntilInto(ReadOnlySpan<byte> delimiter, Span<byte> destination, ref SearchCursor cursor)
    {
        var end = TryFindThrough(delimiter, destination.Length, ref cursor);
        if (end < 0)
        {
            return -1;
        }

        var taken = _buffered.Slice(0, end);
        taken.CopyTo(destination);
        _buffered = _buffered.Slice(taken.End);
        _answeringPipelined = !_buffered.IsEmpty;
        _bytesRead += end;
        return (int)end;
    }

    /// <summary>Where the buffered bytes' first delimiter ends, or -1 while more are needed (after the limits' checks).</summary>
    private long TryFindThrough(ReadOnlySpan<byte> delimiter, int? maxBytes, ref SearchCursor cursor)
    {
        long end = -1;
        long examined = 0;
        if (_holding)
        {
            var index = DelimiterSearch.IndexOf(_buffered, ref cursor, delimiter);
            end = index < 0 ? -1 : index + delimiter.Length;
            examined = _buffered.Length;
        }

        return CheckThrough(end, examined, maxBytes, lookahead: false) ? end : -1;
    }

    /// <summary>
    /// Completes a delimiter or pattern read whose match ends at <paramref name="end"/> (-1: no match in the
    /// <paramref name="examined"/> bytes yet), applying <c>maxBytes</c> and the other limits. With
    /// <paramref name="lookahead"/> (patterns), a match ending exactly at <c>maxBytes</c> may depend on the byte after
    /// it, so the read gives up only once more than <c>maxBytes</c> bytes were examined.
    /// </summary>
    private bool TryTakeThrough(long end, long examined, int? maxBytes, bool lookahead, [NotNullWhen(true)] out byte[]? result)
    {
        result = CheckThrough(end, examined, maxBytes, lookahead) ? Consume(end) : null;
        return result is not null;
    }

    /// <summary>True when the match at <paramref name="end"/> can be taken; throws or reports when it never can.</summary>
    private bool CheckThrough(long end, long examined, int? maxBytes, bool lookahead)
    {
        if (end > maxBytes || (end < 0 && (lookahead ? examined > maxBytes : examined >= maxBytes)))
        {
            throw Unsatisfiable(maxBytes!.Value);
        }

        if (end >= 0)
        {
            return true;
        }

        ThrowIfMoreCannotArrive(examined);
        return false;
    }

    private bool TryReadBytes(int count, bool partial, [NotNullWhen(true)] out byte[]? bytes)
    {
        var available = _holding ? _buffered.Length : 0;
        if (available >= count || (partial && available > 0))
        {
            bytes = count == 0 ? [] : Consume(Math.Min(count, available));
            return true;
        }

        ThrowIfMoreCannotArrive(available);
        bytes = null;
        return false;
    }

    private bool TryReadUntilClose([NotNullWhen(true)] out byte[]? bytes)
    {
        var available = _holding ? _buffered.Length : 0;
        if (_inputCompleted && _inputFailure is null && !_closedLocally)
        {
            bytes = available == 0 ? [] : Consume(available);
            return true;
        }

        ThrowIfMoreCannotArrive(available);
        bytes = null;
        return false;
    }

    private byte[] Consume(long length)
    {
        var taken = _buffered.Slice(0, length);
        var bytes = taken.ToArray();
        _buffered = _buffered.Slice(taken.End);
        _answeringPipelined = !_buffered.IsEmpty;
        _bytesRead += length;
        return bytes;
    }

    /// <summary>The bytes read and written since the last call (metrics report them, see <c>EndpointMetrics</c>).</summary>
    internal (long Read, long Written) TakeByteCounts()
    {
        var written = _output.BytesWritten;
        var counts = (_bytesRead - _bytesReadReported, written - _bytesWrittenReported);
        _bytesReadReported = _bytesRead;
        _bytesWrittenReported = written;
        return counts;
    }

    /// <summary>
    /// Throws when the pending read cannot be completed by waiting for more bytes; while a read driver retries, it
    /// hands the error to the driver instead (the caller then reports "not complete").
    /// </summary>
    private void ThrowIfMoreCannotArrive(long examined)
    {
        ThrowIfBufferFull(examined);
        if (MoreCannotArrive(examined) is not { } error)
        {
            return;
        }

        if (_failuresReturned)
        {
            _returnedFailure = error;
            return;
        }

        throw error;
    }

    /// <summary>Why the pending read can never complete, or null while more bytes may still arrive.</summary>
    private StreamClosedException? MoreCannotArrive(long examined)
    {
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

    private void ThrowIfBufferFull(long examined)
    {
        if (examined > MaxBufferSize)
        {
            throw BufferFull(examined, "A read looked at {0} bytes without completing");
        }
    }

    /// <summary>The buffer limit is hit: logs it, closes the connection, and makes the read's exception.</summary>
    private StreamClosedException BufferFull(long bytes, string what)
    {
        var limit = MaxBufferSize;
        TurboLog.BufferFull(_logger, ConnectionId, bytes, limit);
        _closedByLimit = "max_buffer_size";
        var cause = new StreamBufferFullException(
            string.Format(System.Globalization.CultureInfo.InvariantCulture, what, bytes) + $", more than MaxBufferSize ({limit} bytes).");
        ReleaseBuffered();
        _ = CloseCoreAsync();
        return new StreamClosedException("The connection was closed: " + cause.Message, cause);
    }

    private UnsatisfiableReadException Unsatisfiable(int maxBytes)
    {
        TurboLog.UnsatisfiableRead(_logger, ConnectionId, maxBytes);
        _closedByLimit = "max_bytes";
        ReleaseBuffered();
        _ = CloseCoreAsync();
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
                _input.AdvanceTo(_buffered.End);
            }
            catch (InvalidOperationException)
            {
                // The transport already completed the pipe and took its memory back.
            }
        }

        _buffered = default;
    }

    /// <summary>
    /// Called when the handler has returned, before Kestrel takes the connection's memory back: closes the
    /// stream, waits for a read the handler left running (the close woke it), and releases the buffered bytes.
    /// Reads after this throw <see cref="StreamClosedException"/>.
    /// </summary>
    internal async Task FinishAsync()
    {
        _finished = true;
        await CloseCoreAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _reading) != 0 && !await ReadEndsWithinAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false))
        {
            // A streaming callback that never returns holds the read: reset the connection, and make the read
            // stop without touching the buffer again once the callback does return.
            _abandoned = true;
            Abort();
        }

        if (Interlocked.CompareExchange(ref _reading, 1, 0) == 0)
        {
            ReleaseBuffered();
            Volatile.Write(ref _reading, 0);
        }
    }

    /// <summary>Waits for the pending read (a streaming callback, typically) to end; false when it did not in time.</summary>
    private async Task<bool> ReadEndsWithinAsync(TimeSpan timeout)
    {
        var readEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _readEnded, readEnded);
        return Volatile.Read(ref _reading) == 0
            || await Task.WhenAny(readEnded.Task, Task.Delay(timeout)).ConfigureAwait(false) == readEnded.Task;
    }

    private void BeginRead()
    {
        if (_finished)
        {
            throw new StreamClosedException("The handler has returned; its stream is closed.");
        }

        if (Interlocked.Exchange(ref _reading, 1) != 0)
        {
            throw new InvalidOperationException("Another read is already pending on this stream; IOStream allows one read at a time.");
        }
    }

    private void EndRead()
    {
        // A full fence between releasing the guard and looking for a waiter, matched in FinishAsync.
        Interlocked.Exchange(ref _reading, 0);
        Volatile.Read(ref _readEnded)?.TrySetResult();
    }

    private static void ValidateMaxBytes(int? maxBytes)
    {
        if (maxBytes is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "maxBytes must be at least 1.");
        }
    }
}
