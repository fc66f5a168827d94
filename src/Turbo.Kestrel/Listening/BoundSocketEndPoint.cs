using System.Net;
using System.Net.Sockets;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// An end point that is already a bound, listening socket. Kestrel passes it back to
/// <see cref="PreboundListenerFactory"/>, which hands Kestrel's socket transport the socket itself.
/// </summary>
internal sealed class BoundSocketEndPoint(Socket socket, int backlog) : EndPoint
{
    public Socket Socket { get; } = socket;

    public int Backlog { get; } = backlog;

    public override AddressFamily AddressFamily => Socket.AddressFamily;

    public override string ToString() => Socket.LocalEndPoint is { } local ? ListenSocket.Describe(local) : "(closed socket)";
}
