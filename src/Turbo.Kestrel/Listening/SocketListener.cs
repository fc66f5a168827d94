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
/// up. The back-off runs on the real clock (it paces the kernel, not the application's time) and ends when the listener
/// is unbound. Kestrel ends the accept loop for good when <see cref="AcceptAsync"/> throws, so nothing escapes it: a
/// connection that cannot be set up is dropped and the next one accepted. Each connection is counted for the
/// <see cref="ListenerGroup"/> once it is set up.
/// </remarks>
#pragma warning disable CA1031 // The accept loop must survive whatever one accept or one connection's setup fails with.
internal sealed class SocketListener(
    Socket socket, SocketConnectionContextFactory factory, ListenerGroup group, ILogger logger) : IConnectionListener
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(1);

    private readonly string _description = ListenSocket.Describe(socket.LocalEndPoint!);
    private readonly bool _isTcp = socket.LocalEndPoint is IPEndPoint;
    private readonly CancellationTokenSource _unbound = new();
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
            catch (Exception ex)
            {
                // Out of descriptors or buffers (or anything else the kernel or runtime refuses): wait, do not spin.
                retry = retry == TimeSpan.Zero ? FirstRetry : TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LastRetry.Ticks));
                TurboLog.AcceptFailed(logger, _description, Describe(ex), (int)retry.TotalMilliseconds);
                if (!await WaitBeforeRetryAsync(retry, cancellationToken).ConfigureAwait(false))
                {
                    EndAcceptLoop();
                    return null;
                }

                continue;
            }

            if (retry != TimeSpan.Zero)
            {
                retry = TimeSpan.Zero;
                TurboLog.AcceptResumed(logger, _description);
            }

            if (SetUp(accepted) is { } connection)
            {
                group.OnConnectionAccepted();
                return connection;
            }
        }
    }

    /// <summary>Hands an accepted socket to the transport; null (and the socket closed) when that fails.</summary>
    private ConnectionContext? SetUp(Socket accepted)
    {
        try
        {
            if (_isTcp)
            {
                accepted.NoDelay = true;
            }

            return factory.Create(accepted);
        }
        catch (Exception ex)
        {
            // Typically the peer reset before setup (setting an option on a dead socket fails): drop this one only.
            TurboLog.AcceptedConnectionDropped(logger, _description, ex);
            accepted.Dispose();
            return null;
        }
    }

    /// <summary>
    /// Waits before the next accept; false when the listener is unbound or the wait cancelled. At the descriptor limit
    /// even a timer can fail to start (the runtime's timer thread needs descriptors), and then the wait blocks this
    /// thread instead.
    /// </summary>
    private async ValueTask<bool> WaitBeforeRetryAsync(TimeSpan retry, CancellationToken cancellationToken)
    {
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _unbound.Token);
            await Task.Delay(retry, TimeProvider.System, stop.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (Exception)
        {
            Thread.Sleep(retry);
            return !cancellationToken.IsCancellationRequested && !_unbound.IsCancellationRequested;
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        Unbind();
        return default;
    }

    public ValueTask DisposeAsync()
    {
        Unbind();
        factory.Dispose();
        return default;
    }

    private void Unbind()
    {
        socket.Dispose();
        try
        {
            _unbound.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Unbound before.
        }
    }

    private static string Describe(Exception ex) => ex is SocketException socketError ? socketError.SocketErrorCode.ToString() : ex.GetType().Name + ": " + ex.Message;

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
#pragma warning restore CA1031
