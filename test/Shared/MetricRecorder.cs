using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Turbo.Kestrel.Testing;

/// <summary>
/// Listens to the <c>Turbo.Kestrel</c> meters (every loop's) and keeps the measurements whose <c>server.port</c> tag is
/// the test's port, so that tests running side by side do not see each other's connections.
/// </summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measurement> _measurements = new();
    private readonly Func<IReadOnlyDictionary<string, object?>, bool> _filter;

    public MetricRecorder(Func<IReadOnlyDictionary<string, object?>, bool> filter, object? meterScope = null, Meter? meter = null)
    {
        _filter = filter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Turbo.Kestrel"
                && (meterScope is null || ReferenceEquals(instrument.Meter.Scope, meterScope))
                && (meter is null || ReferenceEquals(instrument.Meter, meter)))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>Measurements of the test's server: its loop's meter, its port.</summary>
    public static MetricRecorder For(TestServer test)
    {
        var port = test.Port;
        return new(tags => tags.TryGetValue("server.port", out var p) && p is int value && value == port, meter: test.Loop.Metrics.Meter);
    }

    /// <summary>Every measurement of the test's loop (its meter serves only the test's server).</summary>
    public static MetricRecorder ForLoop(TestServer test) => new(_ => true, meter: test.Loop.Metrics.Meter);

    /// <summary>The sum of an instrument's measurements whose <paramref name="tag"/> is <paramref name="value"/>.</summary>
    public double Sum(string instrument, string tag, string value) =>
        Of(instrument).Where(m => m.Tags.TryGetValue(tag, out var v) && (string?)v == value).Sum(m => m.Value);

    /// <summary>Measurements of the server named <paramref name="server"/>.</summary>
    public static MetricRecorder ForServer(string server, object? meterScope = null) =>
        new(tags => tags.TryGetValue("turbo.server", out var s) && (string?)s == server, meterScope);

    public IReadOnlyList<Measurement> Of(string instrument) => [.. _measurements.Where(m => m.Instrument == instrument)];

    /// <summary>The sum of an instrument's measurements (a counter's total, an up-down counter's current value).</summary>
    public double Sum(string instrument) => Of(instrument).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();

    private void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }

        if (_filter(copy))
        {
            _measurements.Enqueue(new Measurement(instrument.Name, instrument.Unit, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), copy));
        }
    }

    /// <summary>One measurement: the instrument, its unit, the value and the tags.</summary>
    internal sealed record Measurement(string Instrument, string? Unit, double Value, IReadOnlyDictionary<string, object?> Tags);
}
