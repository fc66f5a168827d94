using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// Accepts on a socket Turbo.Kestrel bound, and hands each connection to Kestrel's socket transport
/// (<see cref="SocketConnectionContextFactory"/>: its pipes, memory pool and I/O queues).
/// </summary>
/// <remarks>
/// Unlike Kestrel's own listener, which retries every failed accept at once, an accept that fails for lack of
/// resources (no file descriptors left: EMFILE/ENFILE; no buffers) backs off from 10 ms to 1 s, so a process at its fd
/// limit waits instead of spinning a core; pending clients stay in the backlog and are accepted once descriptors free
/// up. Each connection is counted for the <see cref="ListenerGroup"/> the moment it is accepted.
/// </remarks>
internal sealed class SocketListener(
    Socket socket, SocketConnectionContextFactory factory, ListenerGroup group, ILogger logger, TimeProvider time) : IConnectionListener
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(1);

    private readonly string _description = ListenSocket.Describe(socket.LocalEndPoint!);
    private readonly bool _isTcp = socket.LocalEndPoint is IPEndPoint;
    private int _ended;

    public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var retry = TimeSpan.Zero;
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsClosed(ex))
            {
                EndAcceptLoop();
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                // The client gave up while waiting in the backlog: take the next one.
                continue;
            }
            catch (SocketException ex)
            {
                // Out of descriptors or buffers (or anything else the kernel refuses): wait, do not spin.
                retry = retry == TimeSpan.Zero ? FirstRetry : TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LastRetry.Ticks));
                TurboLog.AcceptFailed(logger, _description, ex.SocketErrorCode.ToString(), (int)retry.TotalMilliseconds);
                if (!await WaitBeforeRetryAsync(retry, cancellationToken).ConfigureAwait(false))
                {
                    EndAcceptLoop();
                    return null;
                }

                continue;
            }

            if (retry != TimeSpan.Zero)
            {
                TurboLog.AcceptResumed(logger, _description);
            }

            if (_isTcp)
            {
                accepted.NoDelay = true;
            }

            group.OnConnectionAccepted();
            return factory.Create(accepted);
        }
    }

    /// <summary>
    /// Waits before the next accept; false when cancelled. Kestrel ends the accept loop for good if AcceptAsync throws,
    /// so nothing may escape: at the descriptor limit even a timer can fail to start (the runtime's timer thread
    /// needs descriptors), and then the wait blocks this thread instead.
    /// </summary>
    private async ValueTask<bool> WaitBeforeRetryAsync(TimeSpan retry, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(retry, time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
#pragma warning disable CA1031 // Whatever the runtime fails with at the descriptor limit, the accept loop must survive.
        catch (Exception)
#pragma warning restore CA1031
        {
            Thread.Sleep(retry);
            return !cancellationToken.IsCancellationRequested;
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        socket.Dispose();
        return default;
    }

    public ValueTask DisposeAsync()
    {
        socket.Dispose();
        factory.Dispose();
        return default;
    }

    private static bool IsClosed(Exception ex) => ex is ObjectDisposedException or OperationCanceledException
        || (ex is SocketException socketError && socketError.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted);

    private void EndAcceptLoop()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            group.OnAcceptLoopEnded();
        }
    }
}
