using System.Net.Sockets;

namespace Turbo.Kestrel.Listening;

/// <summary>An inherited listening socket (<c>fd://N</c>; systemd socket activation passes fd 3 and up).</summary>
internal static class InheritedSocket
{
    /// <summary>
    /// Serves descriptor <paramref name="handle"/> on <paramref name="listeners"/>. It is checked through a handle that
    /// does not own the descriptor, so refusing it never closes a descriptor the application may be using; once
    /// accepted, the server owns it and closes it when it stops.
    /// </summary>
    /// <exception cref="ArgumentException">The descriptor is not a bound, listening socket, or already serves a server.</exception>
    public static ListenerGroup Serve(ServerListeners listeners, int handle, int backlog)
    {
        using (var probe = new Socket(new SafeSocketHandle(handle, ownsHandle: false)))
        {
            if (!probe.IsBound || !ListenSocket.IsListening(probe))
            {
                throw new ArgumentException($"descriptor {handle} is not a bound, listening socket.");
            }
        }

        var socket = new Socket(new SafeSocketHandle(handle, ownsHandle: true));
        try
        {
            return listeners.Add([socket], backlog)!;
        }
        catch
        {
            socket.SafeHandle.SetHandleAsInvalid();
            throw;
        }
    }
}
