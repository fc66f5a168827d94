using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Turbo.Kestrel.Streams;

/// <summary>
/// Runs a read that has to wait for the transport, without an async state machine: fills the buffer, tries the
/// operation again, and completes the caller's <see cref="ValueTask{TResult}"/>. A read that fails
/// (<see cref="ReadStatus.Failed"/>) completes it with the exception object, never thrown here, so a connection's
/// normal end costs one throw (in the handler's <c>await</c>). One driver per buffer and read kind is reused from wait
/// to wait.
/// </summary>
internal sealed class ReadDriver<TOperation, TResult> : IValueTaskSource<TResult>
    where TOperation : struct, IReadOperation<TResult>
{
    private readonly InputBuffer _input;
    private readonly Action _onFilled;
    private ManualResetValueTaskSourceCore<TResult> _core;
    private ConfiguredValueTaskAwaitable<ReadResult>.ConfiguredValueTaskAwaiter _fill;
    private TOperation _operation;
    private bool _endsRead;
    private CancellationToken _cancellationToken;
    private int _inUse;

    // The error a read ends with when it was made for this read and never thrown: GetResult throws it directly,
    // which costs less than rethrowing a captured one (the common end of every connection goes through here).
    private Exception? _freshError;

    public ReadDriver(InputBuffer input)
    {
        _input = input;
        _onFilled = OnFilled;
    }

    /// <summary>Takes the driver for a new read; false while the previous read's result has not been taken.</summary>
    public bool TryTake() => Interlocked.CompareExchange(ref _inUse, 1, 0) == 0;

    public ValueTask<TResult> Start(TOperation operation, bool endsRead, CancellationToken cancellationToken)
    {
        _core.Reset();
        _freshError = null;
        _operation = operation;
        _endsRead = endsRead;
        _cancellationToken = cancellationToken;
        var read = new ValueTask<TResult>(this, _core.Version);
        Run();
        return read;
    }

    /// <summary>Waits for bytes until the operation completes or fails; returns early when a wait is pending.</summary>
    private void Run()
    {
        var input = _input;
        TResult? result;
        Exception? error;
        bool fresh;
        try
        {
            while (true)
            {
                if (input.Watch is { } watch && input.BufferedLength > 0)
                {
                    // Part of the message is here and the rest is awaited: MinReadRate applies from now.
                    watch.OnReadWaiting(input.BufferedLength);
                }

#pragma warning disable CA2012 // Consumed exactly once, through its awaiter, as an await would.
                var fill = input.StartFill(_cancellationToken).ConfigureAwait(false).GetAwaiter();
#pragma warning restore CA2012
                if (!fill.IsCompleted)
                {
                    _fill = fill;
                    fill.UnsafeOnCompleted(_onFilled);
                    return;
                }

                if (TryFinish(fill, out result, out error, out fresh))
                {
                    break;
                }
            }
        }
#pragma warning disable CA1031 // Whatever ends the read goes to its caller.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = default;
            error = ex;
            fresh = false;
        }

        Complete(result, error, fresh);
    }

    private void OnFilled()
    {
        var fill = _fill;
        _fill = default;
        bool finished;
        TResult? result;
        Exception? error;
        bool fresh;
        try
        {
            finished = TryFinish(fill, out result, out error, out fresh);
        }
#pragma warning disable CA1031 // Whatever ends the read goes to its caller.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            finished = true;
            result = default;
            error = ex;
            fresh = false;
        }

        if (finished)
        {
            Complete(result, error, fresh);
        }
        else
        {
            Run();
        }
    }

    /// <summary>
    /// Takes a fill's bytes and tries the operation again. True when the read has ended: with a result, or with the
    /// error it ends with. <paramref name="fresh"/>: the error was made for this read and has never been thrown.
    /// </summary>
    private bool TryFinish(ConfiguredValueTaskAwaitable<ReadResult>.ConfiguredValueTaskAwaiter fill, out TResult? result, out Exception? error, out bool fresh)
    {
        var input = _input;
        ReadResult filled;
        try
        {
            filled = fill.GetResult();
        }
        catch (OperationCanceledException ex) when (InputBuffer.IsCallerCancellation(ex, _cancellationToken))
        {
            input.TakeBackExamined();
            result = default;
            error = ex;
            fresh = false;
            return true;
        }
#pragma warning disable CA1031 // ConnectionResetException, ConnectionAbortedException, a completed pipe: a quiet close.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            result = default;
            error = input.InputFailed(ex);
            fresh = true;
            return true;
        }

        input.Accept(filled);
        var status = _operation.TryRead(input, out var value, out error);
        result = value;
        fresh = true;
        return status != ReadStatus.NeedMore;
    }

    /// <summary>Ends the read (its guard is released first, as when a read completes at once), then hands over the outcome.</summary>
    private void Complete(TResult? result, Exception? error, bool fresh)
    {
        var input = _input;
        var operation = _operation;
        _operation = default;
        _cancellationToken = default;
        input.Watch?.OnReadEnded();
        input.EndOperation(operation, _endsRead);

        // The handler usually goes on inline, here: what it writes before it yields is flushed once, after.
        OutputQueue.BeginDelivery();
        try
        {
            if (error is null)
            {
                _core.SetResult(result!);
            }
            else if (fresh)
            {
                _freshError = error;
                _core.SetResult(default!);
            }
            else
            {
                _core.SetException(error);
            }
        }
        finally
        {
            input.Owner.EndDelivery();
        }
    }

    public TResult GetResult(short token)
    {
        // Only a finished read frees the driver (a blocking GetResult on a pending read is misuse, not the end).
        var current = token == _core.Version && _core.GetStatus(token) != ValueTaskSourceStatus.Pending;
        try
        {
            var result = _core.GetResult(token);

            // Kept until the next read starts: a second GetResult (misuse) throws the same error again.
            return current && _freshError is { } fresh ? throw fresh : result;
        }
        finally
        {
            if (current)
            {
                // The caller has its outcome: the driver is free for the buffer's next wait.
                Volatile.Write(ref _inUse, 0);
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token)
    {
        var status = _core.GetStatus(token);
        return status == ValueTaskSourceStatus.Succeeded && token == _core.Version && _freshError is not null
            ? ValueTaskSourceStatus.Faulted
            : status;
    }

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
