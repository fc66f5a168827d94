using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// What Turbo.Kestrel knows about listening sockets it created or was given: the backlog it listened with
/// (Kestrel listens again, and must keep it), and which server owns the socket (a socket serves one server,
/// once: a second Kestrel accept loop on the same socket breaks the first).
/// </summary>
internal static class SocketRegistry
{
    private static readonly ConditionalWeakTable<Socket, StrongBox<int>> Backlogs = [];
    private static readonly ConditionalWeakTable<Socket, TcpServer> Owners = [];

    public static void RecordBacklog(Socket socket, int backlog) => Backlogs.AddOrUpdate(socket, new StrongBox<int>(backlog));

    /// <summary>The backlog a socket was created with here, or <see cref="ListenSocket.DefaultBacklog"/> for a socket made elsewhere.</summary>
    public static int BacklogOf(Socket socket) => Backlogs.TryGetValue(socket, out var backlog) ? backlog.Value : ListenSocket.DefaultBacklog;

    /// <summary>Makes <paramref name="server"/> the socket's owner; false when another server (or this one) already is.</summary>
    public static bool TryClaim(Socket socket, TcpServer server) => Owners.TryAdd(socket, server);

    /// <summary>Undoes a claim that did not lead to serving the socket.</summary>
    public static void Release(Socket socket) => Owners.Remove(socket);
}
