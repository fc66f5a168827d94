using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace Turbo.Kestrel.Testing;

/// <summary>
/// The example EchoHost as a child process on 127.0.0.1 (both ports picked by the kernel), for tests that push a
/// whole process to a limit (file descriptors). Its console log is read line by line; disposing it kills it.
/// </summary>
internal sealed partial class EchoHostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _seen = [];

    private EchoHostProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                _lines.Writer.TryWrite(line);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                _lines.Writer.TryWrite("stderr: " + line);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public int Port { get; private set; }

    /// <summary>The HTTP side's address (health endpoints), from the host's "Now listening on" line.</summary>
    public Uri HttpAddress { get; private set; } = null!;

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>CPU time the process has used (user + system), from /proc.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            ThrowIfExited();
            var fields = File.ReadAllText($"/proc/{Id}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / 100.0);
        }
    }

    /// <summary>How many descriptors the process has open.</summary>
    public int OpenDescriptors => Directory.GetFiles($"/proc/{Id}/fd").Length;

    /// <summary>Starts EchoHost; <paramref name="environment"/> adds variables to its environment.</summary>
    public static async Task<EchoHostProcess> StartAsync(IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { EchoHostDll(), "--urls", "http://127.0.0.1:0", "--Turbo:Servers:Echo:Endpoints:Main:Url=tcp://127.0.0.1:0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(EchoHostDll())!,
        };
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var host = new EchoHostProcess(Process.Start(info)!);
        var listening = await host.WaitForLineAsync(l => ListeningLine().IsMatch(l));
        host.Port = int.Parse(ListeningLine().Match(listening).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var http = await host.WaitForLineAsync(l => HttpListeningLine().IsMatch(l));
        host.HttpAddress = new Uri(HttpListeningLine().Match(http).Groups[1].Value);
        return host;
    }

    /// <summary>Sets the process's soft file-descriptor limit (util-linux prlimit).</summary>
    public async Task SetDescriptorLimitAsync(int limit)
    {
        using var prlimit = Process.Start(new ProcessStartInfo(RequiredTool.Find("prlimit", debianPackage: "util-linux"), $"--pid {Id} --nofile={limit}:") { RedirectStandardError = true })!;
        await prlimit.WaitForExitAsync().Within();
        Assert.True(prlimit.ExitCode == 0, await prlimit.StandardError.ReadToEndAsync());
    }

    /// <summary>Waits up to <paramref name="wait"/> for a console line matching <paramref name="match"/>; false if none came.</summary>
    public async Task<bool> PrintsWithinAsync(Func<string, bool> match, TimeSpan wait) => await FindLineAsync(match, wait) is not null;

    /// <summary>
    /// Fails with what the host printed last when it has exited, or exits within <paramref name="wait"/> (a crash
    /// explains itself); returns when it keeps running.
    /// </summary>
    public async Task ThrowIfExitedAsync(TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
        }

        ThrowIfExited();
    }

    /// <summary>Fails with what the host printed last, when it is no longer running (a crash explains itself).</summary>
    public void ThrowIfExited()
    {
        if (!_process.HasExited)
        {
            return;
        }

        while (_lines.Reader.TryRead(out var line))
        {
            _seen.Add(line);
        }

        throw new InvalidOperationException(
            $"EchoHost exited with code {_process.ExitCode}. Its last lines:\n" + string.Join("\n", _seen.TakeLast(40)));
    }

    /// <summary>Waits for a console line matching <paramref name="match"/> (seen before or arriving later).</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match) =>
        await FindLineAsync(match, Timeouts.Default)
        ?? throw new TimeoutException( // What the host did print, so that a failure is understood from the test log alone.
            $"EchoHost printed no matching line within {Timeouts.Default.TotalSeconds} s (exited: {_process.HasExited}, open fds: {(_process.HasExited ? -1 : OpenDescriptors)}). Its last lines:\n"
            + string.Join("\n", _seen.TakeLast(30)));

    /// <summary>The first console line matching <paramref name="match"/>, seen before or arriving within <paramref name="wait"/>; null if none.</summary>
    private async Task<string?> FindLineAsync(Func<string, bool> match, TimeSpan wait)
    {
        if (_seen.FirstOrDefault(match) is { } earlier)
        {
            return earlier;
        }

        using var timeout = new CancellationTokenSource(wait);
        try
        {
            while (true)
            {
                var line = await _lines.Reader.ReadAsync(timeout.Token);
                _seen.Add(line);
                if (match(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().Within();
        }

        _process.Dispose();
    }

    /// <summary>
    /// The EchoHost built with this test assembly (same configuration): the test project references it without taking
    /// its output, so that building the tests builds it.
    /// </summary>
    private static string EchoHostDll()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = testBin.Name;
        var configuration = testBin.Parent!.Name;
        var root = testBin.Parent.Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(root, "example", "EchoHost", "bin", configuration, framework, "EchoHost.dll");
        return File.Exists(dll)
            ? dll
            : throw new FileNotFoundException($"{dll} is missing: build the solution (./test.sh does) before running this test.", dll);
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex HttpListeningLine();

    [GeneratedRegex(@"Server Echo is listening on 127\.0\.0\.1:(\d+)\.")]
    private static partial Regex ListeningLine();
}
