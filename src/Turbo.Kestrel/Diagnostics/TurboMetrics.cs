using System.Diagnostics.Metrics;

namespace Turbo.Kestrel.Diagnostics;

/// <summary>
/// The <c>Turbo.Kestrel</c> meter and its instruments, one set per <see cref="IOLoop"/>. Names follow the
/// OpenTelemetry style of Kestrel's own <c>kestrel.*</c> instruments, which already cover Turbo endpoints (accepted and
/// active connections, TLS handshakes); these add what only Turbo knows. docs/observability.md lists them.
/// </summary>
internal sealed class TurboMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>AddMeter("Turbo.Kestrel")</c> and <see cref="MeterListener"/>s.</summary>
    public const string MeterName = "Turbo.Kestrel";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    /// <param name="meterFactory">The host's factory; null makes a meter this object owns.</param>
    public TurboMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        ActiveConnections = _meter.CreateUpDownCounter<long>(
            "turbo.active_connections", "{connection}", "Connections whose handler is running.");
        ConnectionDuration = _meter.CreateHistogram<double>(
            "turbo.connection.duration", "s", "How long connections lasted, from the handler's start to the connection's end.",
            tags: null,
            advice: new InstrumentAdvice<double>
            {
                HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600],
            });
        BytesRead = _meter.CreateCounter<long>(
            "turbo.connection.bytes_read", "By", "Bytes the handlers' reads returned.");
        BytesWritten = _meter.CreateCounter<long>(
            "turbo.connection.bytes_written", "By", "Bytes the handlers wrote.");
        HandlerErrors = _meter.CreateCounter<long>(
            "turbo.handler.errors", "{error}", "Handlers that ended with an exception other than the stream closing.");
        RejectedConnections = _meter.CreateCounter<long>(
            "turbo.rejected_connections", "{connection}", "Connections closed before their handler ran.");
        LimitClosedConnections = _meter.CreateCounter<long>(
            "turbo.limit_closed_connections", "{connection}", "Connections closed by a limit while their handler ran.");
    }

    /// <summary>The meter the instruments belong to.</summary>
    public Meter Meter => _meter;

    public UpDownCounter<long> ActiveConnections { get; }

    public Histogram<double> ConnectionDuration { get; }

    public Counter<long> BytesRead { get; }

    public Counter<long> BytesWritten { get; }

    public Counter<long> HandlerErrors { get; }

    public Counter<long> RejectedConnections { get; }

    public Counter<long> LimitClosedConnections { get; }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
