using System.Net;
using System.Net.Sockets;

namespace Turbo.Kestrel.Listening;

/// <summary>Creates listening sockets the way Turbo's <c>sockutil.bind_sockets</c> does.</summary>
internal static class ListenSocket
{
    /// <summary>
    /// Binds every address and puts each socket into the listening state, so the kernel queues clients at
    /// once. Either all addresses are bound or none: on failure the ones already bound are closed.
    /// </summary>
    /// <exception cref="IOException">An address could not be bound; the message names it.</exception>
    public static List<Socket> BindAll(IReadOnlyList<ListenAddress> addresses, int backlog)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        var sockets = new List<Socket>(addresses.Count);
        try
        {
            foreach (var address in addresses)
            {
                sockets.Add(Bind(address, backlog));
            }

            return sockets;
        }
        catch
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            throw;
        }
    }

    private static Socket Bind(ListenAddress address, int backlog)
    {
        var endPoint = address.EndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = address.DualMode;
            }

            SetReuseAddress(socket);
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"Failed to listen on {Describe(endPoint)}: {ex.Message}", ex);
        }
    }

    /// <summary>The end point as users write it: <c>127.0.0.1:7000</c>, <c>[::1]:7000</c>.</summary>
    public static string Describe(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip => $"[{ip.Address}]:{ip.Port}",
        _ => endPoint.ToString() ?? endPoint.GetType().Name,
    };

    /// <summary>
    /// Sets SO_REUSEADDR alone, so a port in TIME_WAIT can be bound again. .NET's
    /// <see cref="SocketOptionName.ReuseAddress"/> also sets SO_REUSEPORT on Unix, which would let a second
    /// server silently share a port that is in use; Turbo.Kestrel only does that when asked.
    /// </summary>
    private static void SetReuseAddress(Socket socket)
    {
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(0xFFFF /* SOL_SOCKET */, 4 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        }
    }
}
