using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Tests.Diagnostics;

/// <summary>The documented table of event ids (docs/logging.md) is the code's: every event, id, name and level.</summary>
public partial class LogEventTests
{
    [Fact]
    public void EveryEvent_IsInTheDocumentedTable_WithItsIdNameAndLevel_AndIdsAreUnique()
    {
        var events = typeof(TurboLog).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .OfType<LoggerMessageAttribute>()
            .ToArray();
        var documented = File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", "logging.md"))
            .Select(line => TableRow().Match(line))
            .Where(m => m.Success)
            .ToDictionary(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), m => (Name: m.Groups[2].Value, Level: m.Groups[3].Value));

        Assert.NotEmpty(events);
        Assert.Equal(events.Length, events.Select(e => e.EventId).Distinct().Count());
        foreach (var e in events)
        {
            Assert.True(documented.TryGetValue(e.EventId, out var row), $"event {e.EventId} ({e.EventName}) is not in docs/logging.md");
            Assert.Equal(e.EventName, row.Name);
            Assert.Equal(e.Level.ToString(), row.Level);
        }

        Assert.Equal(events.Length, documented.Count);
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Turbo.Kestrel.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("The repository root (Turbo.Kestrel.sln) is not above the test assembly.");
    }

    // | 1 | `HandlerFailed` | Error | ...
    [GeneratedRegex(@"^\| (\d+) \| `(\w+)` \| (\w+) \|")]
    private static partial Regex TableRow();
}
