using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// Kestrel's socket transport, fed with sockets Turbo.Kestrel bound itself: binding happens in
/// <c>Listen</c> (so its errors surface there), accepting in Kestrel, with the listener's own backlog.
/// </summary>
internal sealed class PreboundListenerFactory(ILoggerFactory loggerFactory, ListenerGroup group) : IConnectionListenerFactory
{
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not BoundSocketEndPoint bound)
        {
            throw new NotSupportedException($"Turbo.Kestrel listeners only accept pre-bound sockets, not {endpoint}.");
        }

        var options = new SocketTransportOptions
        {
            Backlog = bound.Backlog,
            CreateBoundListenSocket = _ => bound.Socket,
        };
        var listener = await new SocketTransportFactory(Options.Create(options), loggerFactory)
            .BindAsync(endpoint, cancellationToken).ConfigureAwait(false);
        return new CountingListener(listener, group);
    }
}
