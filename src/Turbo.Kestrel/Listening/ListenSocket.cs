using System.Net;
using System.Net.Sockets;

namespace Turbo.Kestrel.Listening;

/// <summary>Creates listening sockets the way Turbo's <c>sockutil.bind_sockets</c> does.</summary>
internal static class ListenSocket
{
    /// <summary>The listen backlog when none is given: 128, as in Turbo and Tornado.</summary>
    public const int DefaultBacklog = 128;

    /// <summary>
    /// Binds every address and puts each socket into the listening state, so the kernel queues clients at
    /// once. Either all addresses are bound or none: on failure the ones already bound are closed.
    /// </summary>
    /// <exception cref="IOException">An address could not be bound; the message names it.</exception>
    public static List<Socket> BindAll(IReadOnlyList<ListenAddress> addresses, int backlog, bool reusePort = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        var sockets = new List<Socket>(addresses.Count);
        try
        {
            foreach (var address in addresses)
            {
                sockets.Add(Bind(address, backlog, reusePort));
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

    /// <summary>The end point as users write it: <c>127.0.0.1:7000</c>, <c>[::1]:7000</c>, <c>unix:/run/echo.sock</c>.</summary>
    public static string Describe(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip => $"[{ip.Address}]:{ip.Port}",
        UnixDomainSocketEndPoint unix => $"unix:{unix}",
        _ => endPoint.ToString() ?? endPoint.GetType().Name,
    };

    /// <summary>True when the socket is in the listening state (SO_ACCEPTCONN), where the platform can tell.</summary>
    public static bool IsListening(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return socket.IsBound;
        }

        var value = new byte[4];
        socket.GetRawSocketOption(1 /* SOL_SOCKET */, 30 /* SO_ACCEPTCONN */, value);
        return BitConverter.ToInt32(value) != 0;
    }

    private static Socket Bind(ListenAddress address, int backlog, bool reusePort)
    {
        var endPoint = address.EndPoint;
        if (endPoint is UnixDomainSocketEndPoint unix)
        {
            UnixSocketPath.PrepareForBind(unix.ToString());
        }

        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = address.DualMode;
            }

            if (endPoint is IPEndPoint)
            {
                SetReuseAddress(socket);
            }

            if (reusePort)
            {
                SetReusePort(socket);
            }

            socket.Bind(endPoint);
            socket.Listen(backlog);
            SocketRegistry.RecordBacklog(socket, backlog);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"Failed to listen on {Describe(endPoint)}: {ex.Message}", ex);
        }
    }

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

    /// <summary>SO_REUSEPORT: several sockets (and processes) share one port; the kernel spreads connections.</summary>
    private static void SetReusePort(Socket socket)
    {
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(0xFFFF /* SOL_SOCKET */, 0x200 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        }
        else
        {
            throw new PlatformNotSupportedException("SO_REUSEPORT is not available on this platform.");
        }
    }
}
