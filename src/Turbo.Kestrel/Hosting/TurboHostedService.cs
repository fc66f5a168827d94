using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Health;
using Turbo.Kestrel.Listening;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// The host's lifecycle for its Turbo servers: validates the <c>Turbo</c> section before anything starts, starts the
/// servers with the host, applies configuration changes while it runs, and drains the servers when it stops.
/// </summary>
/// <remarks>
/// Settings come from one place, <see cref="IOptionsMonitor{TOptions}"/> of <see cref="TurboSettings"/>, at start and
/// at each change. A bad configuration fails the start, naming the key; a bad edit while running is logged and changes
/// nothing. Which endpoints listen is the <see cref="EndpointReconciler"/>'s business, certificate files the
/// <see cref="CertificateWatcher"/>'s.
/// </remarks>
internal sealed class TurboHostedService : IHostedLifecycleService, IDisposable
{
    private readonly IServiceProvider _services;
    private readonly IOLoop _loop;
    private readonly IOptionsMonitor<TurboSettings> _settings;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, HostedServer> _servers = new(StringComparer.OrdinalIgnoreCase);
    private readonly EndpointReconciler _endpoints;
    private readonly CertificateWatcher _certificates;
    private ListenerGroup[] _draining = [];
    private IDisposable? _reloads;
    private bool _running;
    private bool _stopping;

    public TurboHostedService(IServiceProvider services, IOLoop loop, ILoggerFactory loggerFactory, IOptionsMonitor<TurboSettings> settings)
    {
        _services = services;
        _loop = loop;
        _settings = settings;
        _logger = loggerFactory.CreateLogger(TurboLog.Category);
        _endpoints = new EndpointReconciler(_logger);
        _certificates = new CertificateWatcher(_logger);
    }

    /// <summary>What the health checks report: whether the servers run, and each configured endpoint's state.</summary>
    public HealthState GetHealthState()
    {
        lock (_gate)
        {
            var listeners = _stopping ? _draining : _endpoints.Listeners;
            return new HealthState(_running, _stopping, _endpoints.Health, listeners.Sum(l => l.ConnectionCount));
        }
    }

    /// <summary>Before any hosted service starts (HTTP included): a bad <c>Turbo</c> section fails the start here.</summary>
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _settings.CurrentValue.ThrowIfInvalid();
        return Task.CompletedTask;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The configuration may have changed since StartingAsync checked it.
        var settings = _settings.CurrentValue;
        settings.ThrowIfInvalid();
        if (settings.InlineScheduling is { } inline)
        {
            _loop.InlineScheduling = inline;
        }

        try
        {
            foreach (var server in settings.Servers)
            {
                cancellationToken.ThrowIfCancellationRequested();
                lock (_gate)
                {
                    _endpoints.Start(Apply(server), server);
                }
            }
        }
        catch
        {
            // The host is not starting: close what did start, without waiting for its clients.
            await Task.WhenAll(TakeServers().Select(s => s.StopAsync(TimeSpan.Zero))).ConfigureAwait(false);
            throw;
        }

        _reloads = _settings.OnChange(Reload);
        lock (_gate)
        {
            _certificates.Watch(_servers.Values);
            _running = true;
        }
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _stopping = true;
            _draining = [.. _endpoints.Listeners];
        }

        _reloads?.Dispose();
        _certificates.Dispose();

        // The host cancels the token when HostOptions.ShutdownTimeout runs out: connections still open then are aborted.
        // The same deadline is given to the servers, so that their Draining log line says when that will be.
        var drain = _services.GetService<IOptions<HostOptions>>()?.Value.ShutdownTimeout is { } timeout
            && timeout >= TimeSpan.Zero && timeout.TotalMilliseconds < int.MaxValue
            ? timeout
            : Timeout.InfiniteTimeSpan;
        return Task.WhenAll(TakeServers().Select(s => s.StopAsync(drain, cancellationToken)));
    }

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _reloads?.Dispose();
        _certificates.Dispose();
    }

    /// <summary>The configuration changed: every server's settings first, then the endpoints, then the certificate files.</summary>
    private void Reload(TurboSettings settings)
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            if (settings.Error is { } error)
            {
                TurboLog.ReloadRejected(_logger, error.Message, error);
                return;
            }

            // A server whose settings cannot be applied (its certificate cannot be loaded) keeps its running endpoints.
            var rejected = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var server in settings.Servers)
            {
                try
                {
                    Apply(server);
                }
                catch (InvalidOperationException ex)
                {
                    TurboLog.ReloadRejected(_logger, ex.Message, ex);
                    rejected[server.Name] = ex.Message;
                }
            }

            _endpoints.Apply(settings.Servers, _servers, rejected);

            // The certificate files may have moved with the change.
            _certificates.Watch(_servers.Values);
        }
    }

    /// <summary>Applies a server's settings, making the server the first time; errors name the key.</summary>
    private HostedServer Apply(ServerSettings settings)
    {
        if (!_servers.TryGetValue(settings.Name, out var server))
        {
            server = HostedServer.Create(_services, settings);
            _servers[settings.Name] = server;
        }

        server.Apply(settings, _loop);
        return server;
    }

    private TcpServer[] TakeServers()
    {
        lock (_gate)
        {
            var servers = _servers.Values.Select(s => s.Server).ToArray();
            _servers.Clear();
            _endpoints.Clear();
            return servers;
        }
    }
}
