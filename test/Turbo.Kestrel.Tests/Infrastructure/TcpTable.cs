using System.Diagnostics;

namespace Turbo.Kestrel.Tests.Infrastructure;

/// <summary>
/// The kernel's TCP sockets, for what a test cannot see through its own sockets. Asked through <c>ss</c>, whose
/// filters run in the kernel: /proc/net/tcp lists every TIME_WAIT socket of the run and soon takes 100 ms to read.
/// </summary>
internal static class TcpTable
{
    /// <summary>Whether a socket with local port <paramref name="localPort"/> is in TIME_WAIT.</summary>
    public static bool HasTimeWait(int localPort) => Query($"state time-wait sport = :{localPort}").Count > 0;

    /// <summary>The rows of <c>ss -tnH</c> with a state filter ("Recv-Q Send-Q Local Peer").</summary>
    private static List<string> Query(string filter)
    {
        using var ss = Process.Start(new ProcessStartInfo("ss", $"-tnH {filter}") { RedirectStandardOutput = true })
            ?? throw new InvalidOperationException("ss did not start.");
        var rows = ss.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        ss.WaitForExit();
        return rows;
    }
}
