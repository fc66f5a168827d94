using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// Kestrel's transport, fed with sockets Turbo.Kestrel bound itself: binding happens in <c>Listen</c> (so its errors
/// surface there), accepting in <see cref="SocketListener"/>, connections on Kestrel's socket transport.
/// </summary>
internal sealed class PreboundListenerFactory(ILoggerFactory loggerFactory, ListenerGroup group, bool inlineScheduling) : IConnectionListenerFactory
{
    /// <summary>Kestrel's own category for its socket transport, so its connection logs stay where users look.</summary>
    private const string TransportCategory = "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not BoundSocketEndPoint bound)
        {
            throw new NotSupportedException($"Turbo.Kestrel listeners only accept pre-bound sockets, not {endpoint}.");
        }

        // The socket listens already; listening again sets the backlog this listener was asked for.
        bound.Socket.Listen(bound.Backlog);
        // The accept loop's retry timer must work when no descriptor is left: start the runtime's timer thread now.
        TimeProvider.System.CreateTimer(static _ => { }, null, TimeSpan.FromDays(1), Timeout.InfiniteTimeSpan).Dispose();
        var options = new SocketConnectionFactoryOptions { UnsafePreferInlineScheduling = inlineScheduling };
        var factory = new SocketConnectionContextFactory(options, loggerFactory.CreateLogger(TransportCategory));
        var logger = loggerFactory.CreateLogger(TurboLog.Category);
        return new ValueTask<IConnectionListener>(new SocketListener(bound.Socket, factory, group, logger));
    }
}
