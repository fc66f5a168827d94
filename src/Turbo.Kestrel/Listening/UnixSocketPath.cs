using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// Makes a unix socket path ready to bind, as Tornado's <c>bind_unix_socket</c> does: a stale socket file (left by
/// a process that died) is removed; a socket something still listens on, or any other kind of file, is an error.
/// </summary>
internal static partial class UnixSocketPath
{
    public static void PrepareForBind(string path)
    {
        if (!File.Exists(path) && !Directory.Exists(path))
        {
            return;
        }

        if (!IsSocketFile(path))
        {
            throw new IOException($"Failed to listen on unix:{path}: the path exists and is not a socket.");
        }

        // Non-blocking: a listener whose queue is full would block a connect forever.
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // Nobody listens: a stale file.
            File.Delete(path);
            return;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.TryAgain)
        {
            // A listener is there, with its queue full.
        }

        throw new IOException($"Failed to listen on unix:{path}: another process is listening on it.");
    }

    /// <summary>Whether the path is a socket (S_IFSOCK), read with statx, whose layout is the same on every Linux architecture.</summary>
    private static bool IsSocketFile(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            // Without a portable way to read the file type, only a path that accepts a connection test is taken as a socket.
            return true;
        }

        const int AtFdCwd = -100;
        const int AtSymlinkNoFollow = 0x100;
        const uint StatxType = 0x1;
        var buffer = new byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buffer) != 0)
        {
            return false;
        }

        var mode = BitConverter.ToUInt16(buffer, 28);
        return (mode & 0xF000) == 0xC000;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int directory, string path, int flags, uint mask, [Out] byte[] buffer);
}
