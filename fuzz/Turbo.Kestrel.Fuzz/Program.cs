using System.Runtime.InteropServices;
using SharpFuzz;

namespace Turbo.Kestrel.Fuzz;

/// <summary>
/// Entry point. <c>proxy</c> or <c>delimiter</c> runs that target under afl-fuzz (or once on standard input without
/// it); <c>replay &lt;target&gt; &lt;file-or-directory&gt;...</c> runs a target on saved inputs (a directory's files,
/// except <c>*.txt</c>) and prints each failure with its stack trace.
/// </summary>
internal static class Program
{
    private static readonly Dictionary<string, Action<byte[]>> Targets = new(StringComparer.Ordinal)
    {
        ["proxy"] = ProxyTarget.Run,
        ["delimiter"] = DelimiterTarget.Run,
    };

    /// <summary>Runs the command line.</summary>
    /// <param name="args">The arguments.</param>
    /// <returns>0 on success; 1 when a replayed input failed; 2 on a usage error.</returns>
    public static int Main(string[] args)
    {
        if (args.Length == 1 && Targets.TryGetValue(args[0], out var target))
        {
            Fuzzer.OutOfProcess.Run((Stream stream) => target(ReadAll(stream)));
            return 0;
        }

        if (args.Length >= 3 && args[0] == "replay" && Targets.TryGetValue(args[1], out target))
        {
            return Replay(target, args[2..]);
        }

        Console.Error.WriteLine("usage: Turbo.Kestrel.Fuzz <target>                           (under afl-fuzz, or once on stdin)");
        Console.Error.WriteLine("       Turbo.Kestrel.Fuzz replay <target> <file-or-dir>...");
        Console.Error.WriteLine($"targets: {string.Join(", ", Targets.Keys)}");
        return 2;
    }

    /// <summary>
    /// An instrumented Turbo.Kestrel.dll (the one run.sh publishes) records every branch in AFL's coverage map, which
    /// only <see cref="Fuzzer.OutOfProcess"/> sets up; replaying with it, outside that, needs a map of its own.
    /// </summary>
    private static unsafe void EnsureCoverageMap()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
        {
            SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(1 << 16);
        }
    }

    private static byte[] ReadAll(Stream stream)
    {
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    private static int Replay(Action<byte[]> target, IEnumerable<string> paths)
    {
        EnsureCoverageMap();
        var files = paths.SelectMany(p => Directory.Exists(p)
                ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories)
                    .Where(f => !f.EndsWith(".txt", StringComparison.Ordinal)) // run.sh's stack traces beside the inputs
                    .Order(StringComparer.Ordinal)
                : (IEnumerable<string>)[p])
            .ToList();
        var failed = 0;
        foreach (var file in files)
        {
            var input = File.ReadAllBytes(file);
            try
            {
                target(input);
                Console.WriteLine($"ok    {file}");
            }
#pragma warning disable CA1031 // Replay reports every failure, whatever its type, and goes on with the next input.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failed++;
                Console.WriteLine($"FAIL  {file}");
                Console.WriteLine($"      input ({input.Length} bytes): {Convert.ToHexString(input)}");
                Console.WriteLine(ex.ToString());
            }
        }

        Console.WriteLine($"{files.Count - failed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
}
