using System.Net.Sockets;
using Turbo.Kestrel.Listening;

namespace Turbo.Kestrel;

/// <summary>Turbo's <c>turbo.sockutil</c>: listening sockets made ahead of a server.</summary>
public static class SockUtil
{
    /// <summary>
    /// Creates sockets bound to <paramref name="port"/> and listening, non-blocking, with SO_REUSEADDR: one socket
    /// per address (<c>"localhost"</c> gives one per loopback address; no address gives one dual-stack socket).
    /// Hand them to <see cref="TcpServer.AddSockets(IEnumerable{Socket})"/>.
    /// </summary>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="address">An IP literal, <c>"localhost"</c>, or with <see cref="AddressFamily.Unix"/> a path; null for every interface.</param>
    /// <param name="backlog">The listen backlog of each socket.</param>
    /// <param name="family">As for <see cref="TcpServer.Listen(int, string?, int, AddressFamily)"/>.</param>
    /// <param name="reusePort">Set SO_REUSEPORT, so that several sockets (in one process or several) can listen on
    /// the same port and the kernel spreads connections between them.</param>
    /// <returns>The bound, listening sockets.</returns>
    /// <exception cref="IOException">An address could not be bound; the message names it. Nothing stays bound.</exception>
    public static Socket[] BindSockets(int port, string? address = null, int backlog = ListenSocket.DefaultBacklog,
                                      AddressFamily family = AddressFamily.Unspecified, bool reusePort = false)
    {
        var sockets = ListenSocket.BindAll(ListenAddress.Resolve(port, address, family), backlog, reusePort);
        foreach (var socket in sockets)
        {
            socket.Blocking = false;
        }

        return [.. sockets];
    }
}
