using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Tls;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary>How long the end of a handler waits for a streaming read's callback it left running.</summary>
    private static readonly TimeSpan AbandonedReadGrace = TimeSpan.FromSeconds(5);

    private CancellationTokenSource? _closedSource;
    private CancellationTokenRegistration _closeCallbackRegistration;
    private int _closedSignalled;
    private volatile string? _closedByLimit;

    /// <summary>Cancelled when the peer closed or reset the connection, or the stream was closed locally.</summary>
    public CancellationToken Closed => EnsureClosedSource().Token;

    /// <summary>The name of the limit that closed the connection (<c>turbo.limit</c>), or null.</summary>
    internal string? ClosedByLimit => _closedByLimit;

    /// <summary>
    /// Sets the callback that runs once when the stream closes: the peer closes or resets, or the stream is
    /// closed locally, whether or not the handler ever read or wrote. It runs on the thread pool; if the stream
    /// is already closed, it runs at once. <c>null</c> removes the callback.
    /// </summary>
    /// <param name="callback">The callback, or <c>null</c>.</param>
    public void SetCloseCallback(Action? callback)
    {
        _closeCallbackRegistration.Dispose();
        _closeCallbackRegistration = callback is null
            ? default
            : Closed.UnsafeRegister(
                static state => ThreadPool.UnsafeQueueUserWorkItem(
                    static s => s.Stream.RunCloseCallback(s.Callback), ((IOStream Stream, Action Callback))state!, preferLocal: false),
                (this, callback));
    }

    /// <summary>
    /// Closes the stream: every byte already written is sent, then FIN. Pending and later reads that the
    /// buffer cannot satisfy throw <see cref="StreamClosedException"/>. Calling it again does nothing.
    /// </summary>
    public void Close() => _ = CloseCoreAsync();

    /// <summary>
    /// Aborts the connection: pending output is dropped, the connection is reset (RST), pending reads and
    /// writes throw <see cref="StreamClosedException"/>.
    /// </summary>
    public void Abort() => AbortCore(new ConnectionAbortedException("The stream was aborted."));

    /// <summary>A limit closes the connection: pending and later reads and writes say which.</summary>
    /// <param name="reason">What the reads and writes throw, inside their <see cref="StreamClosedException"/>.</param>
    /// <param name="limit">The limit's name in metrics (<c>turbo.limit</c>).</param>
    internal void AbortByLimit(TimeoutException reason, string limit)
    {
        _closedByLimit = limit;
        AbortCore(reason, reason);
    }

    /// <summary>
    /// Called when the handler has returned, before Kestrel takes the connection's memory back: closes the
    /// stream, waits for a read the handler left running (the close woke it), and releases the buffered bytes.
    /// Reads after this throw <see cref="StreamClosedException"/>.
    /// </summary>
    internal async Task FinishAsync()
    {
        _input.Finish();
        await CloseCoreAsync().ConfigureAwait(false);
        if (!await _input.PendingReadEndsWithinAsync(AbandonedReadGrace).ConfigureAwait(false))
        {
            // A streaming callback that never returns holds the read: reset the connection, and make the read
            // stop without touching the buffer again once the callback does return.
            _input.Abandon();
            Abort();
        }

        _input.ReleaseIfIdle();
    }

    /// <summary>Closes after flushing; completes when the output is finished (over TLS: close_notify and FIN sent).</summary>
    internal Task CloseCoreAsync()
    {
        // In this order: a read woken by the close must find the stream closed and its output completing.
        _input.MarkClosed();
        var drained = _output.CompleteAsync();
        _input.WakePendingRead();
        SignalClosed();
        return _connection.Features.Get<TransportUnderTls>() is { } underTls
            ? underTls.CloseAfterAsync(drained, _connection.Features.Get<ISslStreamFeature>()?.SslStream)
            : drained;
    }

    private void AbortCore(Exception reason, TimeoutException? limitFailure = null)
    {
        _input.MarkClosed(limitFailure);
        _output.Abort(reason);
        try
        {
            // SO_LINGER 0: the close that follows sends RST instead of FIN.
            if (_connection.Features.Get<IConnectionSocketFeature>() is { } socketFeature)
            {
                socketFeature.Socket.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // Already gone.
        }

        _connection.Abort(reason as ConnectionAbortedException ?? new ConnectionAbortedException(reason.Message, reason));
        _input.WakePendingRead();
        SignalClosed();
    }

    private CancellationTokenSource EnsureClosedSource()
    {
        var source = Volatile.Read(ref _closedSource);
        if (source is not null)
        {
            return source;
        }

        source = new CancellationTokenSource();
        var existing = Interlocked.CompareExchange(ref _closedSource, source, null);
        if (existing is not null)
        {
            source.Dispose();
            return existing;
        }

        // The transport's token fires on the peer's FIN or RST, even when nobody is reading.
        _connection.ConnectionClosed.UnsafeRegister(static s => ((IOStream)s!).SignalClosed(), this);
        if (Volatile.Read(ref _closedSignalled) != 0)
        {
            source.Cancel();
        }

        return source;
    }

    private void SignalClosed()
    {
        Interlocked.Exchange(ref _closedSignalled, 1);
        var source = Volatile.Read(ref _closedSource);
        if (source is not null && !source.IsCancellationRequested)
        {
            try
            {
                source.Cancel();
            }
            catch (AggregateException ex)
            {
                TurboLog.CloseCallbackFailed(_logger, ConnectionId, ex);
            }
        }
    }

    private void RunCloseCallback(Action callback)
    {
        try
        {
            callback();
        }
#pragma warning disable CA1031 // A user callback must not take the process down; its failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            TurboLog.CloseCallbackFailed(_logger, ConnectionId, ex);
        }
    }
}
