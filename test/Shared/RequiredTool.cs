namespace Turbo.Kestrel.Testing;

/// <summary>
/// A program from the machine that a test drives (haproxy, openssl, prlimit). A missing one fails the test with one
/// line naming the Debian package to install: it never skips, so a machine without it cannot pass unnoticed.
/// </summary>
internal static class RequiredTool
{
    /// <summary>The full path of <paramref name="command"/>, or a failure naming <paramref name="debianPackage"/>.</summary>
    public static string Find(string command, string debianPackage)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, command);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"'{command}' is not installed: this test needs the Debian package {debianPackage} (apt-get install {debianPackage}; .ci/run installs it).");
    }
}
