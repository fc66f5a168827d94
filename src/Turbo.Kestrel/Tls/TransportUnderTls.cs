using System.IO.Pipelines;
using System.Net.Security;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Turbo.Kestrel.Tls;

/// <summary>
/// A TLS connection's transport below Kestrel's TLS layer, kept for the connection's end. Kestrel's TLS adapter ends
/// neither the TLS session nor the socket when the application completes its output, only when the connection's
/// middleware returns; so closing a TLS stream ends them itself: after every byte written, close_notify, then FIN.
/// </summary>
internal sealed class TransportUnderTls(IDuplexPipe transport)
{
    private Task? _closing;

    /// <summary>Keeps each connection's transport as it is before TLS: installed on a listener before <c>UseHttps</c>.</summary>
    public static void Keep(ListenOptions listen) => listen.Use(next => connection =>
    {
        connection.Features.Set(new TransportUnderTls(connection.Transport));
        return next(connection);
    });

    /// <summary>
    /// Once <paramref name="drained"/> has completed (every byte written went through the TLS layer into the
    /// transport), sends close_notify on <paramref name="tls"/> and completes the transport's output, which Kestrel's
    /// socket transport sends, then FIN. Once per connection: every caller gets the same task, which completes when
    /// that is done (a pending write fails it early: the connection was reset or aborted).
    /// </summary>
    public Task CloseAfterAsync(Task drained, SslStream? tls)
    {
        var closing = Volatile.Read(ref _closing);
        if (closing is not null)
        {
            return closing;
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        closing = Interlocked.CompareExchange(ref _closing, started.Task, null);
        if (closing is not null)
        {
            return closing;
        }

        _ = RunAsync(drained, tls, started);
        return started.Task;
    }

    private async Task RunAsync(Task drained, SslStream? tls, TaskCompletionSource done)
    {
        try
        {
            await CloseAsync(drained, tls).ConfigureAwait(false);
        }
        finally
        {
            done.TrySetResult();
        }
    }

    private async Task CloseAsync(Task drained, SslStream? tls)
    {
        await drained.ConfigureAwait(false);
        if (tls is not null)
        {
            try
            {
                await tls.ShutdownAsync().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // A connection that cannot take close_notify is gone (reset, aborted); the FIN below ends it anyway.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        transport.Output.Complete();
    }
}
