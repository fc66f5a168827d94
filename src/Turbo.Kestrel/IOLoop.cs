using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel;

/// <summary>
/// Turbo's <c>turbo.ioloop</c>: what keeps a standalone program alive and stops its servers at the end.
/// Listening does not need it: <see cref="TcpServer.Listen(int, string?, int, System.Net.Sockets.AddressFamily)"/>
/// accepts at once, whether or not anyone calls <see cref="Start"/>.
/// </summary>
/// <remarks>
/// In a host built with <c>UseTurboTcp()</c> the loop is the host's: it uses the host's services, and
/// <see cref="Stop"/> also stops the application.
/// </remarks>
public sealed class IOLoop : IAsyncDisposable
{
    private static readonly Lazy<IOLoop> LazyInstance = new(() => new IOLoop());

    private readonly ServiceProvider? _ownedServices;
    private readonly IHostApplicationLifetime? _hostLifetime;
    private readonly Lock _gate = new();
    private readonly HashSet<TcpServer> _servers = [];
    private TaskCompletionSource? _running;
    private bool _stopRequested;
    private Task _lastStop = Task.CompletedTask;
    private readonly Lazy<WebApplication> _kestrelTls;
    private readonly Lazy<TurboMetrics> _metrics;

    /// <summary>Creates a loop.</summary>
    /// <param name="services">Where logging comes from (the host's provider, usually). When null, the loop builds
    /// private services that log to the console at Information level.</param>
    public IOLoop(IServiceProvider? services = null)
    {
        if (services is null)
        {
            _ownedServices = CreateDefaultServices();
            services = _ownedServices;
        }

        Services = services;
        LoggerFactory = services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        TimeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _hostLifetime = services.GetService<IHostApplicationLifetime>();
        _kestrelTls = new Lazy<WebApplication>(CreateKestrelTlsServices);
        _metrics = new Lazy<TurboMetrics>(() => new TurboMetrics(Services.GetService<IMeterFactory>()));
    }

    /// <summary>The global loop, used by servers constructed without one (Turbo's <c>ioloop.instance()</c>).</summary>
    public static IOLoop Instance => LazyInstance.Value;

    /// <summary>How long <see cref="Stop"/> lets open connections finish before aborting them. Defaults to 5 seconds.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs each connection's handler code on the thread that completed its socket read, instead of handing it to
    /// the thread pool at every read and write (Kestrel's <c>UnsafePreferInlineScheduling</c>). Applies to servers
    /// that start listening afterwards. Defaults to false.
    /// </summary>
    /// <remarks>
    /// It pays only together with the environment variable <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, set
    /// before the process starts, so that socket completions themselves run on the runtime's socket thread: then a
    /// message costs markedly less CPU (docs/performance.md), and a handler that blocks stalls every connection on
    /// that thread, which is Turbo's own rule (handlers must not block); answers it deferred while answering pipelined
    /// requests also wait until it yields. Without the variable it is slower than the default.
    /// </remarks>
    public bool InlineScheduling { get; set; }

    /// <summary>
    /// The clock the loop's servers time their connections by (Tornado's <c>IOLoop.time()</c>): the
    /// <see cref="System.TimeProvider"/> registered in the services, or the system clock.
    /// </summary>
    public TimeProvider TimeProvider { get; }

    internal IServiceProvider Services { get; }

    /// <summary>
    /// What Kestrel's TLS middleware needs (its metrics and HTTPS configuration services), built once, privately,
    /// because a host without a web server (or no host) lacks them. It logs through this loop's logger factory.
    /// </summary>
    internal IServiceProvider KestrelTlsServices => _kestrelTls.Value.Services;

    internal ILoggerFactory LoggerFactory { get; }

    /// <summary>The <c>Turbo.Kestrel</c> meter of this loop's servers, made through the services' <see cref="IMeterFactory"/>.</summary>
    internal TurboMetrics Metrics => _metrics.Value;

    /// <summary>Blocks until <see cref="Stop"/> is called and the servers have stopped (Turbo's <c>ioloop.instance():start()</c>).</summary>
    public void Start() => RunAsync().GetAwaiter().GetResult();

    /// <summary>
    /// Completes when <see cref="Stop"/> is called (or <paramref name="cancellationToken"/> is cancelled) and the
    /// servers have stopped. As in Tornado, if <see cref="Stop"/> was called while the loop was not running, the
    /// next run returns at once.
    /// </summary>
    /// <param name="cancellationToken">Cancelling it stops the loop.</param>
    /// <returns>A task that completes when the loop has stopped.</returns>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        Task stopped;
        lock (_gate)
        {
            if (_stopRequested)
            {
                _stopRequested = false;
                stopped = _lastStop;
            }
            else
            {
                _running ??= NewSignal();
                stopped = _running.Task;
            }
        }

        using (cancellationToken.UnsafeRegister(static s => ((IOLoop)s!).Stop(), this))
        {
            await stopped.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stops every server on this loop (each drains for at most <see cref="ShutdownTimeout"/>), then
    /// <see cref="Start"/> and <see cref="RunAsync"/> return. Returns at once; a later <see cref="Start"/> runs again.
    /// </summary>
    public void Stop()
    {
        _ = StopServers();
        _hostLifetime?.StopApplication();
    }

    /// <summary>Stops the loop and its servers, and releases the private services it created.</summary>
    /// <returns>A task that completes when everything has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopServers().ConfigureAwait(false);
        if (_kestrelTls.IsValueCreated)
        {
            await _kestrelTls.Value.DisposeAsync().ConfigureAwait(false);
        }

        if (_metrics.IsValueCreated)
        {
            _metrics.Value.Dispose();
        }

        if (_ownedServices is not null)
        {
            await _ownedServices.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal void Register(TcpServer server)
    {
        lock (_gate)
        {
            _servers.Add(server);
        }
    }

    internal void Unregister(TcpServer server)
    {
        lock (_gate)
        {
            _servers.Remove(server);
        }
    }

    private Task StopServers()
    {
        TaskCompletionSource? run;
        TcpServer[] servers;
        lock (_gate)
        {
            run = _running;
            _running = null;
            _stopRequested = run is null;
            servers = [.. _servers];
            _servers.Clear();
        }

        var stopping = StopServersAsync(servers, run);
        lock (_gate)
        {
            _lastStop = stopping;
        }

        return stopping;
    }

    private async Task StopServersAsync(TcpServer[] servers, TaskCompletionSource? run)
    {
        try
        {
            await Task.WhenAll(servers.Select(s => s.StopAsync(ShutdownTimeout))).ConfigureAwait(false);
        }
        finally
        {
            run?.TrySetResult();
        }
    }

    private WebApplication CreateKestrelTlsServices()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        builder.Services.AddSingleton(LoggerFactory);
        return builder.Build();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static ServiceProvider CreateDefaultServices() => new ServiceCollection()
        .AddMetrics()
        .AddLogging(logging => logging
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss ";
            })
            .SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning))
        .BuildServiceProvider();
}
