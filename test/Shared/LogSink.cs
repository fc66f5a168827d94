using Microsoft.Extensions.Logging;

namespace Turbo.Kestrel.Testing;

/// <summary>One captured log entry.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception, IReadOnlyList<object?>? Scopes = null);

/// <summary>A logger provider that records every entry, so tests can assert what was logged and how often.</summary>
internal sealed class LogSink : ILoggerProvider, ISupportExternalScope
{
    private readonly Lock _gate = new();
    private IExternalScopeProvider? _scopes;
    private readonly List<LogEntry> _entries = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<LogEntry> Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries];
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new SinkLogger(this, categoryName);

    /// <summary>The logger factory hands its scopes over: every entry records the scopes open when it was logged.</summary>
    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    /// <summary>Waits until an entry matching <paramref name="match"/> was logged.</summary>
    public async Task<LogEntry> WaitForAsync(Func<LogEntry, bool> match)
    {
        using var timeout = new CancellationTokenSource(Timeouts.Default);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                var found = _entries.FirstOrDefault(match);
                if (found is not null)
                {
                    return found;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(timeout.Token);
        }
    }

    private void Add(LogEntry entry)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _entries.Add(entry);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    private sealed class SinkLogger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new List<object?>();
            sink._scopes?.ForEachScope(static (scope, list) => list.Add(scope), scopes);
            sink.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception, scopes));
        }
    }
}
