using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Turbo.Kestrel.Limits;

namespace Turbo.Kestrel.Streams;

/// <summary>
/// The read side of one <see cref="IOStream"/>: the bytes received and not yet returned, the one read at a time that
/// works on them, the limits that end a read (<c>maxBytes</c>, <see cref="MaxBufferSize"/>), and the wait for more.
/// </summary>
/// <remarks>
/// <para>Bytes stay in Kestrel's pipe until a read returns them. While <c>_holding</c>, <see cref="Buffered"/> is the
/// unconsumed part of the last <see cref="ReadResult"/>, not yet advanced past, so a read the buffer satisfies never
/// touches the pipe.</para>
/// <para>A read is a struct <see cref="IReadOperation{TResult}"/>. <see cref="Read{TOperation, TResult}"/> first tries it
/// over the buffered bytes, synchronously and without allocating; when they do not suffice, a reusable
/// <see cref="ReadDriver{TOperation, TResult}"/> waits for the transport and tries again. Every attempt answers with a
/// <see cref="ReadStatus"/>; a read that can never complete ends with its exception as a value, thrown once, where the
/// handler awaits it (the normal end of every connection goes through there).</para>
/// <para>The stream is told when a read is about to wait (its deferred answers leave first), when the transport
/// failed, and when a read limit closed the connection.</para>
/// </remarks>
internal sealed partial class InputBuffer(IOStream owner, PipeReader reader, long maxBufferSize, ConnectionWatch? watch)
{
    private ReadOnlySequence<byte> _buffered;
    private bool _holding;

    // The end of input: the peer's FIN (completed), a reset or abort (failure), or this side closing (closed locally,
    // perhaps by a limit, whose exception reads then carry).
    private bool _inputCompleted;
    private Exception? _inputFailure;
    private volatile bool _closedLocally;
    private volatile TimeoutException? _limitFailure;

    private long _maxBufferSize = maxBufferSize;
    private long _bytesRead;

    // The last read left bytes behind: the handler is answering pipelined requests, and its writes may share one
    // flush (see OutputQueue.WriteAsync). A hint read by writes on any thread; a wrong guess only moves a flush.
    private volatile bool _pipelined;

    // The read guard (one read at a time), and what the end of the handler needs to know about a read still running.
    private int _reading;
    private volatile bool _finished;
    private volatile bool _abandoned;
    private TaskCompletionSource? _readEnded;

    // One driver per read kind (see ReadKind), made on the first read that has to wait.
    private object?[]? _drivers;

    /// <summary>The stream this buffer reads for.</summary>
    public IOStream Owner => owner;

    /// <summary>The connection's timeouts, told when bytes arrive and while a read holds part of a message.</summary>
    public ConnectionWatch? Watch => watch;

    /// <summary>The bytes received and not yet returned by a read.</summary>
    public ReadOnlySequence<byte> Buffered => _holding ? _buffered : default;

    /// <summary>
    /// True while a fill's result is held, even when a read has taken all of its bytes: a pattern runs over the
    /// buffer then, so that one that matches the empty string completes at once.
    /// </summary>
    public bool HasReadResult => _holding;

    /// <summary>How many bytes are buffered.</summary>
    public long BufferedLength => _holding ? _buffered.Length : 0;

    /// <summary>See <see cref="IOStream.MaxBufferSize"/>.</summary>
    public long MaxBufferSize
    {
        get => Volatile.Read(ref _maxBufferSize);
        set => Volatile.Write(ref _maxBufferSize, value);
    }

    /// <summary>How many bytes reads have returned.</summary>
    public long BytesRead => _bytesRead;

    /// <summary>True when the last read left bytes buffered: its handler is answering pipelined requests.</summary>
    public bool IsPipelined => _pipelined;

    /// <summary>True while a read is pending.</summary>
    public bool IsReading => Volatile.Read(ref _reading) != 0;

    /// <summary>True once this side closed the stream (<c>Close</c>, <c>Abort</c>, a limit).</summary>
    public bool IsClosedLocally => _closedLocally;

    /// <summary>The peer sent FIN, and neither a reset nor this side closing came first: what is buffered is all there is.</summary>
    public bool EndedByPeer => _inputCompleted && _inputFailure is null && !_closedLocally;

    /// <summary>No more bytes can arrive (FIN, reset, or closed here): a read must decide on what is buffered.</summary>
    public bool MoreCannotArrive => _inputCompleted || _closedLocally;

    /// <summary>True when the handler returned while a streaming read's callback ran: that read must stop.</summary>
    public bool IsAbandoned => _abandoned;

    /// <summary>Takes the read guard; throws when a read is pending or the handler has returned.</summary>
    public void BeginRead()
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

    /// <summary>Releases the read guard.</summary>
    public void EndRead()
    {
        // A full fence between releasing the guard and looking for a waiter, matched in PendingReadEndsWithinAsync.
        Interlocked.Exchange(ref _reading, 0);
        Volatile.Read(ref _readEnded)?.TrySetResult();
    }

    /// <summary>
    /// Runs a read: from the buffered bytes when they suffice (no allocation), else by waiting for more. The caller has
    /// taken the read guard; it is released when the read ends, before its result is seen.
    /// </summary>
    /// <param name="operation">The read.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <param name="endsRead">False when the caller goes on reading under the same guard (streaming reads).</param>
    public ValueTask<TResult> Read<TOperation, TResult>(TOperation operation, CancellationToken cancellationToken, bool endsRead = true)
        where TOperation : struct, IReadOperation<TResult>
    {
        ReadStatus status;
        TResult result;
        Exception? error;
        try
        {
            status = operation.TryRead(this, out result, out error);
        }
        catch
        {
            EndOperation(operation, endsRead);
            throw;
        }

        if (status == ReadStatus.NeedMore)
        {
            return TakeDriver<TOperation, TResult>().Start(operation, endsRead, cancellationToken);
        }

        EndOperation(operation, endsRead);
        return status == ReadStatus.Complete ? new ValueTask<TResult>(result) : throw error!;
    }

    /// <summary>Releases what the operation holds and, unless the caller reads on, the read guard.</summary>
    public void EndOperation<TOperation>(TOperation operation, bool endsRead)
        where TOperation : struct, IReadOperation
    {
        operation.Release();
        if (endsRead)
        {
            EndRead();
        }
    }

    /// <summary>Where the buffered bytes' first <paramref name="delimiter"/> ends, or -1; the cursor keeps the search linear.</summary>
    public long FindDelimiterEnd(ReadOnlySpan<byte> delimiter, ref SearchCursor cursor)
    {
        if (!_holding)
        {
            return -1;
        }

        var index = DelimiterSearch.IndexOf(_buffered, ref cursor, delimiter);
        return index < 0 ? -1 : index + delimiter.Length;
    }

    /// <summary>
    /// Completes a delimiter or pattern read whose match ends at <paramref name="end"/> (-1: no match in the
    /// <paramref name="examined"/> bytes yet) with the bytes through it, applying <c>maxBytes</c> and the other limits.
    /// With <paramref name="lookahead"/> (patterns), a match ending exactly at <c>maxBytes</c> may depend on the byte
    /// after it, so the read gives up only once more than <c>maxBytes</c> bytes were examined.
    /// </summary>
    public ReadStatus TakeThrough(long end, long examined, int? maxBytes, bool lookahead, out byte[] result, out Exception? error)
    {
        var status = CheckThrough(end, examined, maxBytes, lookahead, out error);
        result = status == ReadStatus.Complete ? Take(end) : [];
        return status;
    }

    /// <summary>As <see cref="TakeThrough"/>, copying the bytes into <paramref name="destination"/>, whose length is <c>maxBytes</c>.</summary>
    public ReadStatus CopyThrough(long end, Span<byte> destination, out int length, out Exception? error)
    {
        var status = CheckThrough(end, BufferedLength, destination.Length, lookahead: false, out error);
        length = 0;
        if (status == ReadStatus.Complete)
        {
            var taken = _buffered.Slice(0, end);
            taken.CopyTo(destination);
            Advance(taken.End, end);
            length = (int)end;
        }

        return status;
    }

    /// <summary>Returns the first <paramref name="length"/> buffered bytes as a new array.</summary>
    public byte[] Take(long length)
    {
        var taken = _buffered.Slice(0, length);
        var bytes = taken.ToArray();
        Advance(taken.End, length);
        return bytes;
    }

    /// <summary>
    /// Drops the first <paramref name="length"/> buffered bytes (a streaming read handed them over in place). The
    /// pipelining hint stays as it is: a streaming read is not answering requests one by one.
    /// </summary>
    public void Skip(long length)
    {
        _buffered = _buffered.Slice(length);
        _bytesRead += length;
    }

    /// <summary>
    /// Takes bytes already waiting in the pipe, without waiting: true when some (or the peer's FIN) were added to the
    /// buffer, false when nothing more is there now.
    /// </summary>
    public bool TryTakeWaitingBytes()
    {
        _holding = false;
        reader.AdvanceTo(_buffered.Start, _buffered.End);
        if (reader.TryRead(out var more))
        {
            Accept(more);
            return true;
        }

        TakeBackExamined();
        return false;
    }

    /// <summary>Hands the buffered bytes back to the pipe as examined, and starts waiting for more.</summary>
    public ValueTask<ReadResult> StartFill(CancellationToken cancellationToken)
    {
        _pipelined = false;
        owner.OnReadWaiting();
        try
        {
            if (_holding)
            {
                _holding = false;
                reader.AdvanceTo(_buffered.Start, _buffered.End);
            }

            return reader.ReadAsync(cancellationToken);
        }
#pragma warning disable CA1031 // Any failure of the transport's pipe ends the read side; it is rethrown as StreamClosedException.
        catch (Exception ex) when (!IsCallerCancellation(ex, cancellationToken))
#pragma warning restore CA1031
        {
            throw InputFailed(ex);
        }
    }

    /// <summary>Takes a fill's bytes (and the peer's FIN, when it came) into the buffer.</summary>
    public void Accept(in ReadResult result)
    {
        _buffered = result.Buffer;
        _holding = true;
        _inputCompleted |= result.IsCompleted;
        watch?.OnBytesArrived(result.Buffer.Length);
    }

    /// <summary>
    /// After a cancelled wait: <see cref="StartFill"/> marked the buffered bytes examined, so a plain read would wait
    /// for new ones. Cancelling the pending read makes the pipe hand them back at once, for the next read.
    /// </summary>
    public void TakeBackExamined()
    {
        reader.CancelPendingRead();
        if (reader.TryRead(out var result))
        {
            Accept(result);
        }
    }

    /// <summary>True when a fill failed only because the caller cancelled its own token.</summary>
    public static bool IsCallerCancellation(Exception ex, CancellationToken cancellationToken) =>
        ex is OperationCanceledException and not ConnectionAbortedException && cancellationToken.IsCancellationRequested;

    private void Advance(SequencePosition to, long length)
    {
        _buffered = _buffered.Slice(to);
        _pipelined = !_buffered.IsEmpty;
        _bytesRead += length;
    }

    /// <summary>A driver for a read of this kind: the buffer's own, unless its last read's outcome is still untaken.</summary>
    private ReadDriver<TOperation, TResult> TakeDriver<TOperation, TResult>()
        where TOperation : struct, IReadOperation<TResult>
    {
        var kind = ReadKind.Of<TOperation>.Index;
        var drivers = _drivers ??= new object?[ReadKind.Initial];
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
}
