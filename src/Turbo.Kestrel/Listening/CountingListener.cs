using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// Kestrel's socket listener, counting each connection the moment it is accepted (before Kestrel hands it to a
/// thread) and reporting when its accept loop has ended, so that the group knows when nothing can still arrive.
/// </summary>
internal sealed class CountingListener(IConnectionListener inner, ListenerGroup group) : IConnectionListener
{
    public EndPoint EndPoint => inner.EndPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        ConnectionContext? connection;
        try
        {
            connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Kestrel ends this accept loop on an exception: it will accept nothing more.
            group.OnAcceptLoopEnded();
            throw;
        }

        if (connection is null)
        {
            group.OnAcceptLoopEnded();
        }
        else
        {
            group.OnConnectionAccepted();
        }

        return connection;
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
