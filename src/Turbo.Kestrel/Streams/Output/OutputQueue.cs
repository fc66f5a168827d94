using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Turbo.Kestrel.Streams;

/// <summary>
/// Serialises writes from any number of callers onto one <see cref="PipeWriter"/>, in call order.
/// </summary>
/// <remarks>
/// The caller that finds the writer idle becomes its owner: it copies its bytes into the pipe and flushes,
/// with no allocation when the flush completes at once. Callers that arrive while a flush is in progress
/// are queued; when the flush ends, all queued writes are copied into the pipe together and flushed once
/// (write coalescing), and each completes when that flush completes. <see cref="CompleteAsync"/> ends the
/// output after everything queued has been flushed; <see cref="Abort"/> fails everything still pending.
/// Bytes go into the pipe in pieces of at most <see cref="MaxPiece"/>, each flushed before the next: a large write
/// then holds no more memory than that (the caller's buffer is not copied whole), and each piece the peer takes is
/// progress the write timeout can see. A write whose caller may stop waiting (a cancellable token) and that cannot be
/// sent at once works from a copy of its unsent bytes, so the caller's buffer is never read after the call returned.
/// A write that may be deferred (the handler is answering pipelined requests) and finds the writer idle copies its
/// bytes into the pipe while holding the gate, without becoming the owner: nobody else can own the writer meanwhile,
/// and the bytes wait for a later flush.
/// </remarks>
#pragma warning disable CA1031 // Every flush failure, whatever its type, must fail the pending writes rather than strand them.
internal sealed class OutputQueue(PipeWriter writer, Limits.ConnectionWatch? watch = null) : IThreadPoolWorkItem
{
    /// <summary>The most bytes put into the pipe before a flush: Kestrel's default transport write buffer.</summary>
    internal const int MaxPiece = 64 * 1024;

    private readonly Lock _gate = new();
    private Queue<PendingWrite>? _waiting;
    private bool _flushing;
    private bool _completing;
    private bool _failed;
    private Exception? _failure;
    private TaskCompletionSource? _drained;

    // Bytes put into the pipe and not yet flushed (touched by the writer's owner, or by a deferring write under the
    // gate while there is no owner), and whether a flush of them is queued to the thread pool.
    private int _deferred;
    private bool _flushScheduled;

    // Bytes put into the pipe so far (only the writer's owner, or a deferring caller under the gate, adds to it).
    private long _bytesWritten;

    // How many read results this thread is delivering right now (a handler running inline inside a read's completion).
    [ThreadStatic]
    private static int s_deliveries;

    /// <summary>True while a write has not completed.</summary>
    public bool IsWriting => Volatile.Read(ref _flushing) && !Volatile.Read(ref _failed);

    /// <summary>True once the transport went away or the output was aborted: nothing more can be sent.</summary>
    public bool IsFailed => Volatile.Read(ref _failed);

    /// <summary>How many bytes writes have put into the pipe so far.</summary>
    public long BytesWritten => Volatile.Read(ref _bytesWritten);

    /// <summary>Queues <paramref name="data"/> for sending; see <see cref="IOStream.WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    /// <param name="data">The bytes.</param>
    /// <param name="cancellationToken">Stops waiting; the bytes are still sent.</param>
    /// <param name="mayDefer">
    /// The handler has more input buffered (it is answering pipelined requests): the bytes may wait in the pipe for
    /// the next write's flush, so that one burst of answers leaves in one send. They are flushed no later than the
    /// read that waits for the transport, or the thread pool's next turn on this thread.
    /// </param>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken, bool mayDefer = false)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        PendingWrite? queued = null;
        Exception? deferFailure = null;
        var deferred = false;
        var schedule = false;
        lock (_gate)
        {
            if (_failed || _completing)
            {
                return ValueTask.FromException(ClosedError());
            }

            if (_flushing)
            {
                // A caller that may stop waiting must not have its buffer read after it did: the write owns a copy.
                queued = new PendingWrite(cancellationToken.CanBeCanceled ? data.ToArray() : data);
                (_waiting ??= new Queue<PendingWrite>()).Enqueue(queued);
            }
            else if (mayDefer && _deferred + data.Length <= MaxPiece)
            {
                // The writer is idle and nobody waits (waiters exist only behind a flush): the bytes go into the pipe
                // under the gate, which keeps any other caller from owning the writer meanwhile, and wait there for the
                // flush of a later write, of the waiting read, or of the queued item.
                try
                {
                    writer.Write(data.Span);
                    _deferred += data.Length;
                    _bytesWritten += data.Length;
                    deferred = true;
                    schedule = !_flushScheduled && NeedsQueuedFlush();
                    _flushScheduled |= schedule;
                }
                catch (Exception ex)
                {
                    deferFailure = ex;
                }
            }
            else
            {
                _flushing = true;
            }
        }

        if (queued is not null)
        {
            return cancellationToken.CanBeCanceled
                ? new ValueTask(queued.Task.WaitAsync(cancellationToken))
                : new ValueTask(queued.Task);
        }

        if (deferred)
        {
            watch?.OnWriteDone();
            if (schedule)
            {
                // Runs when this thread finishes its current work (after the handler's burst of reads and writes), or on
                // another thread if this one stays busy or blocks.
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
            }

            return default;
        }

        if (deferFailure is not null)
        {
            Fail(deferFailure);
            return ValueTask.FromException(ClosedError());
        }

        ValueTask<FlushResult> flush;
        var rest = data;
        try
        {
            flush = WritePiece(ref rest);
        }
        catch (Exception ex)
        {
            // Whatever the transport failed with (reset, abort, a completed pipe), the write is lost.
            Fail(ex);
            return ValueTask.FromException(ClosedError());
        }

        if (flush.IsCompletedSuccessfully && rest.IsEmpty)
        {
            watch?.OnWriteDone();
            return FinishOwnFlush(flush.Result) ? default : ValueTask.FromException(ClosedError());
        }

        if (!cancellationToken.CanBeCanceled)
        {
            return AwaitOwnFlushAsync(flush, rest);
        }

        // The rest of a large write is sent after a cancelled caller has stopped waiting: it goes from a copy.
        return new ValueTask(AwaitOwnFlushAsync(flush, rest.IsEmpty ? rest : rest.ToArray()).AsTask().WaitAsync(cancellationToken));
    }

    /// <summary>Puts the next piece of <paramref name="rest"/> into the pipe and flushes it.</summary>
    private ValueTask<FlushResult> WritePiece(ref ReadOnlyMemory<byte> rest)
    {
        var length = Math.Min(rest.Length, MaxPiece);
        writer.Write(rest.Span[..length]);
        rest = rest[length..];
        _deferred = 0;
        _bytesWritten += length;
        return writer.FlushAsync(CancellationToken.None);
    }

    /// <summary>
    /// Whether deferred bytes need a flush queued to the thread pool. Not when the write comes from a handler running
    /// inline in a read's delivery on a thread outside the pool (the runtime's socket thread, with inline scheduling and
    /// inline completions): the delivery flushes when the handler yields (<see cref="EndDelivery"/>), and a queued
    /// item would wake a pool thread for every burst. On a pool thread the item is cheap (this thread's own queue) and
    /// is the safety net for a handler that blocks where its read woke it: another thread takes the item and sends.
    /// </summary>
    private static bool NeedsQueuedFlush() => s_deliveries == 0 || Thread.CurrentThread.IsThreadPoolThread;

    /// <summary>A read starts handing its result to the handler, which may run inline on this thread.</summary>
    public static void BeginDelivery() => s_deliveries++;

    /// <summary>
    /// The handler has yielded (to wait for the next read, or for anything else): the answers it deferred in this turn
    /// leave now, in one flush.
    /// </summary>
    public void EndDelivery()
    {
        s_deliveries--;
        FlushDeferred();
    }

    /// <summary>The queued flush of deferred bytes.</summary>
    void IThreadPoolWorkItem.Execute() => FlushDeferred(fromWorkItem: true);

    /// <summary>Flushes bytes deferred by earlier writes, unless a write is in progress (it flushes them itself).</summary>
    public void FlushDeferred() => FlushDeferred(fromWorkItem: false);

    private void FlushDeferred(bool fromWorkItem)
    {
        if (!fromWorkItem && Volatile.Read(ref _deferred) == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (fromWorkItem)
            {
                _flushScheduled = false;
            }

            if (_flushing || _failed || _deferred == 0)
            {
                return;
            }

            _flushing = true;
        }

        FlushOwned();
    }

    /// <summary>The owner flushes what is in the pipe; failures are recorded for later writes, nobody awaits this.</summary>
    private void FlushOwned()
    {
        ValueTask<FlushResult> flush;
        try
        {
            _deferred = 0;
            flush = writer.FlushAsync(CancellationToken.None);
        }
        catch (Exception ex)
        {
            Fail(ex);
            return;
        }

        if (flush.IsCompletedSuccessfully)
        {
            watch?.OnWriteDone();
            FinishOwnFlush(flush.Result);
            return;
        }

        _ = ObserveAsync(AwaitOwnFlushAsync(flush, default));
    }

    private static async Task ObserveAsync(ValueTask flush)
    {
        try
        {
            await flush.ConfigureAwait(false);
        }
        catch (StreamClosedException)
        {
            // Recorded by Fail: the next write or read reports it.
        }
    }

    /// <summary>Ends the output once every queued write is flushed; the task completes then.</summary>
    public Task CompleteAsync()
    {
        Task? drained = null;
        var flushFirst = false;
        lock (_gate)
        {
            if (_completing || _failed)
            {
                return _drained?.Task ?? Task.CompletedTask;
            }

            _completing = true;
            if (_flushing || _deferred > 0)
            {
                _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                drained = _drained.Task;
                flushFirst = !_flushing;
                _flushing = true;
            }
        }

        if (drained is not null)
        {
            if (flushFirst)
            {
                // Deferred bytes are flushed first; the writer completes when that flush ends.
                FlushOwned();
            }

            return drained;
        }

        CompleteWriter();
        return Task.CompletedTask;
    }

    /// <summary>Fails every pending write and unblocks a flush waiting for the peer.</summary>
    public void Abort(Exception? reason)
    {
        if (Fail(reason))
        {
            writer.CancelPendingFlush();
        }
    }

    /// <summary>Waits for the owner's flush, then sends the rest of a large write piece by piece.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AwaitOwnFlushAsync(ValueTask<FlushResult> flush, ReadOnlyMemory<byte> rest)
    {
        while (true)
        {
            FlushResult result;
            try
            {
                result = await AwaitFlushAsync(flush).ConfigureAwait(false);
                if (!rest.IsEmpty && !result.IsCompleted && !result.IsCanceled)
                {
                    flush = WritePiece(ref rest);
                    continue;
                }
            }
            catch (Exception ex)
            {
                Fail(ex);
                throw ClosedError();
            }

            if (!FinishOwnFlush(result))
            {
                throw ClosedError();
            }

            return;
        }
    }

    /// <summary>Awaits a flush, telling the watch while it waits for the peer (until the flush ends, however it ends).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        if (watch is null || flush.IsCompleted)
        {
            var done = await flush.ConfigureAwait(false);
            watch?.OnWriteDone();
            return done;
        }

        watch.OnWriteWaiting();
        try
        {
            return await flush.ConfigureAwait(false);
        }
        finally
        {
            watch.OnWriteDone();
        }
    }

    /// <summary>After the owner's flush: hands the writer to the queue, or releases it.</summary>
    private bool FinishOwnFlush(FlushResult result)
    {
        if (result.IsCompleted || result.IsCanceled)
        {
            Fail(null);
            return false;
        }

        bool pump;
        lock (_gate)
        {
            pump = _waiting is { Count: > 0 } && !_failed;
            if (!pump)
            {
                _flushing = false;
            }
        }

        if (pump)
        {
            _ = PumpAsync();
        }
        else
        {
            CompleteIfRequested();
        }

        return true;
    }

    private async Task PumpAsync()
    {
        while (true)
        {
            PendingWrite[] batch;
            lock (_gate)
            {
                if (_failed || _waiting is not { Count: > 0 })
                {
                    _flushing = false;
                    break;
                }

                batch = _waiting.ToArray();
                _waiting.Clear();
            }

            Exception? error = null;
            var sent = false;
            try
            {
                sent = await WriteBatchAsync(batch).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                error = ex;
            }

            if (!sent)
            {
                Fail(error);
                foreach (var write in batch)
                {
                    write.TrySetException(ClosedError());
                }

                return;
            }

            foreach (var write in batch)
            {
                write.TrySetResult();
            }
        }

        CompleteIfRequested();
    }

    /// <summary>Sends queued writes together, flushing every <see cref="MaxPiece"/> bytes and at the end.</summary>
    private async ValueTask<bool> WriteBatchAsync(PendingWrite[] batch)
    {
        var unflushed = _deferred;
        _deferred = 0;
        foreach (var write in batch)
        {
            var rest = write.Data;
            while (!rest.IsEmpty)
            {
                if (unflushed == MaxPiece)
                {
                    var piece = await AwaitFlushAsync(writer.FlushAsync(CancellationToken.None)).ConfigureAwait(false);
                    if (piece.IsCompleted || piece.IsCanceled)
                    {
                        return false;
                    }

                    unflushed = 0;
                }

                var length = Math.Min(rest.Length, MaxPiece - unflushed);
                writer.Write(rest.Span[..length]);
                rest = rest[length..];
                unflushed += length;
                _bytesWritten += length;
            }
        }

        var result = await AwaitFlushAsync(writer.FlushAsync(CancellationToken.None)).ConfigureAwait(false);
        return !result.IsCompleted && !result.IsCanceled;
    }

    private void CompleteIfRequested()
    {
        lock (_gate)
        {
            if (!_completing || _flushing || _failed)
            {
                return;
            }
        }

        CompleteWriter();
    }

    private void CompleteWriter()
    {
        try
        {
            writer.Complete();
        }
        catch (InvalidOperationException)
        {
            // The transport already completed the pipe; nothing is left to flush.
        }

        TaskCompletionSource? drained;
        lock (_gate)
        {
            drained = _drained;
        }

        drained?.TrySetResult();
    }

    /// <summary>Marks the output failed and fails queued writes. Returns false when it already was.</summary>
    private bool Fail(Exception? reason)
    {
        PendingWrite[]? waiting;
        TaskCompletionSource? drained;
        lock (_gate)
        {
            if (_failed)
            {
                return false;
            }

            _failed = true;
            _flushing = false;
            _failure = reason;
            waiting = _waiting?.ToArray();
            _waiting?.Clear();
            drained = _drained;
        }

        if (waiting is not null)
        {
            foreach (var write in waiting)
            {
                write.TrySetException(ClosedError());
            }
        }

        drained?.TrySetResult();
        return true;
    }

    private StreamClosedException ClosedError() => new(
        _failed ? "The connection is closed; the write could not be sent." : "The stream is closed; no more data can be written.",
        _failure);
}
#pragma warning restore CA1031
