using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Turbo.Kestrel.Testing;

/// <summary>
/// The kernel's TCP sockets, for what a test cannot see through its own sockets (a listener's backlog, TIME_WAIT),
/// asked the way <c>ss</c> asks: a sock_diag dump over netlink. Nothing but the kernel is needed, and the dump is fast
/// however many TIME_WAIT sockets the run left behind.
/// </summary>
internal static partial class KernelSockets
{
    private const int AfNetlink = 16;
    private const int SockRaw = 3;
    private const int SockCloexec = 0x80000;
    private const int NetlinkSockDiag = 4;
    private const ushort SockDiagByFamily = 20;
    private const ushort NlmFRequestDump = 0x301;
    private const ushort NlmsgError = 2;
    private const ushort NlmsgDone = 3;
    private const int TcpTimeWait = 6;
    private const int TcpListen = 10;

    /// <summary>The backlog the kernel keeps for the listening socket on <paramref name="port"/> (Send-Q of <c>ss -ltn</c>).</summary>
    public static int ListenBacklog(int port) =>
        Dump(TcpListen).Where(s => s.LocalPort == port).Select(s => (int?)s.WriteQueue).FirstOrDefault()
        ?? throw new InvalidOperationException($"No socket listens on port {port}.");

    /// <summary>Whether a socket with local port <paramref name="localPort"/> is in TIME_WAIT.</summary>
    public static bool HasTimeWait(int localPort) => Dump(TcpTimeWait).Any(s => s.LocalPort == localPort);

    /// <summary>The TCP sockets (IPv4 and IPv6) in <paramref name="state"/>: each one's local port and its write-queue field.</summary>
    private static List<(int LocalPort, uint WriteQueue)> Dump(int state)
    {
        var sockets = new List<(int, uint)>();
        var fd = socket(AfNetlink, SockRaw | SockCloexec, NetlinkSockDiag);
        if (fd < 0)
        {
            throw new InvalidOperationException($"netlink socket failed: errno {Marshal.GetLastPInvokeError()}.");
        }

        try
        {
            foreach (var family in new byte[] { 2 /* AF_INET */, 10 /* AF_INET6 */ })
            {
                Request(fd, family, state);
                Receive(fd, sockets);
            }
        }
        finally
        {
            _ = close(fd);
        }

        return sockets;
    }

    /// <summary>Sends an inet_diag_req_v2 dump request: a netlink header, then family, protocol and the states wanted.</summary>
    private static void Request(int fd, byte family, int state)
    {
        var request = new byte[16 + 56];
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(0), (uint)request.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(4), SockDiagByFamily);
        BinaryPrimitives.WriteUInt16LittleEndian(request.AsSpan(6), NlmFRequestDump);
        request[16] = family;
        request[17] = 6; // IPPROTO_TCP
        BinaryPrimitives.WriteUInt32LittleEndian(request.AsSpan(20), 1u << state);
        if (send(fd, request, request.Length, 0) != request.Length)
        {
            throw new InvalidOperationException($"netlink send failed: errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>Reads inet_diag_msg records until the dump's end: the local port (big-endian, offset 4) and idiag_wqueue (offset 60).</summary>
    private static void Receive(int fd, List<(int, uint)> sockets)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var length = (int)recv(fd, buffer, buffer.Length, 0);
            if (length <= 0)
            {
                throw new InvalidOperationException($"netlink recv failed: errno {Marshal.GetLastPInvokeError()}.");
            }

            for (var offset = 0; offset + 16 <= length;)
            {
                var size = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(offset));
                var type = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(offset + 4));
                if (type == NlmsgDone)
                {
                    return;
                }

                if (type == NlmsgError)
                {
                    throw new InvalidOperationException("The kernel refused the sock_diag dump.");
                }

                var message = buffer.AsSpan(offset + 16);
                sockets.Add((BinaryPrimitives.ReadUInt16BigEndian(message[4..]), BinaryPrimitives.ReadUInt32LittleEndian(message[60..])));
                offset += (int)((size + 3) & ~3u);
            }
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(int fd, byte[] buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(int fd, byte[] buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
