using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Health;
using Microsoft.Extensions.FileProviders;
using Turbo.Kestrel.Listening;
using Turbo.Kestrel.Tls;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// Starts the registered servers with the host, applies configuration changes while it runs (endpoints added,
/// removed or changed; <c>MaxBufferSize</c>), and drains the servers when it stops.
/// </summary>
/// <remarks>
/// A bad configuration fails the start, naming the key. A bad edit while running is logged and changes nothing;
/// an endpoint that cannot be bound on reload is logged and the others are applied. Removing an endpoint closes
/// its listener; connections it accepted keep running, as with <see cref="TcpServer.Stop"/>.
/// </remarks>
internal sealed class TurboHostedService(
    TurboBuilder turbo, IServiceProvider services, IConfiguration configuration, IOLoop loop, ILoggerFactory loggerFactory,
    IOptionsMonitor<TurboSettings> startSettings)
    : IHostedService, IDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(TurboLog.Category);
    private readonly Lock _gate = new();
    private readonly List<TcpServer> _started = [];
    private readonly Dictionary<EndpointSettings, (TcpServer Server, ListenerGroup Listener)> _endpoints = [];
    private readonly HashSet<int> _closedHandles = [];
    private readonly List<IDisposable> _certificateWatches = [];
    private readonly string _contentRoot = services.GetService<IHostEnvironment>()?.ContentRootPath ?? Environment.CurrentDirectory;
    private readonly Dictionary<string, string> _failedEndpoints = [];
    private ListenerGroup[] _draining = [];
    private IDisposable? _reloads;
    private bool _running;
    private bool _stopping;

    /// <summary>What the health checks report: whether the servers run, and each configured endpoint's state.</summary>
    public HealthState GetHealthState()
    {
        lock (_gate)
        {
            var endpoints = _endpoints
                .Select(e => new EndpointHealth(e.Key.Key, string.Join(", ", e.Value.Listener.EndPoints), e.Value.Listener.IsListening, null))
                .Concat(_failedEndpoints.Select(f => new EndpointHealth(f.Key, null, false, f.Value)))
                .OrderBy(e => e.Key, StringComparer.Ordinal)
                .ToArray();
            var listeners = _stopping ? _draining : _endpoints.Values.Select(e => e.Listener).Distinct();
            var connections = listeners.Sum(l => l.ConnectionCount);
            return new HealthState(_running, _stopping, endpoints, connections);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Read and validated when the host started (ValidateOnStart, through the same monitor's cache): a bad value
        // has failed the start before this runs.
        var start = startSettings.CurrentValue;
        var settings = start.Servers;
        if (start.InlineScheduling is { } inline)
        {
            loop.InlineScheduling = inline;
        }

        try
        {
            foreach (var server in settings)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Start(server);
            }
        }
        catch
        {
            // The host is not starting: close what did start, without waiting for its clients.
            TcpServer[] started;
            lock (_gate)
            {
                started = [.. _started];
                _started.Clear();
                _endpoints.Clear();
            }

            await Task.WhenAll(started.Select(s => s.StopAsync(TimeSpan.Zero))).ConfigureAwait(false);
            throw;
        }

        _reloads = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
        WatchCertificates();
        lock (_gate)
        {
            _running = true;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        TcpServer[] servers;
        lock (_gate)
        {
            _stopping = true;
            _draining = [.. _endpoints.Values.Select(e => e.Listener).Distinct()];
            servers = [.. _started];
            _started.Clear();
            _endpoints.Clear();
            _failedEndpoints.Clear();
        }

        _reloads?.Dispose();
        StopWatchingCertificates();

        // The host cancels the token when HostOptions.ShutdownTimeout runs out: connections still open then are aborted.
        // The same deadline is given to the servers, so that their Draining log line says when that will be.
        var drain = services.GetService<IOptions<HostOptions>>()?.Value.ShutdownTimeout is { } timeout
            && timeout >= TimeSpan.Zero && timeout.TotalMilliseconds < int.MaxValue
            ? timeout
            : Timeout.InfiniteTimeSpan;
        return Task.WhenAll(servers.Select(s => s.StopAsync(drain, cancellationToken)));
    }

    public void Dispose()
    {
        _reloads?.Dispose();
        StopWatchingCertificates();
    }

    private void Start(ServerSettings settings)
    {
        var server = services.GetRequiredKeyedService<TcpServer>(settings.Name);
        Attach(server, settings);
        lock (_gate)
        {
            _started.Add(server);
        }

        foreach (var endpoint in settings.Endpoints)
        {
            var listener = Listen(server, endpoint);
            lock (_gate)
            {
                _endpoints[endpoint] = (server, listener);
            }
        }
    }

    /// <summary>Applies the configuration as it is now: new endpoints listen, removed or changed ones close.</summary>
    private void Reload()
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            IReadOnlyList<ServerSettings> settings;
            try
            {
                settings = TurboConfigurationReader.Read(configuration, turbo.ServerNames);
            }
            catch (InvalidOperationException ex)
            {
                TurboLog.ReloadRejected(_logger, ex.Message, ex);
                return;
            }

            var wanted = settings.SelectMany(s => s.Endpoints).ToHashSet();
            foreach (var failed in _failedEndpoints.Keys.Where(key => !wanted.Any(e => e.Key == key)).ToArray())
            {
                _failedEndpoints.Remove(failed);
            }

            // Each server's settings first: one that cannot be applied (its certificate cannot be loaded) keeps its
            // running endpoints as they are, and its new endpoints are reported as not listening.
            var rejected = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var server in settings)
            {
                try
                {
                    Attach(services.GetRequiredKeyedService<TcpServer>(server.Name), server);
                }
                catch (InvalidOperationException ex)
                {
                    TurboLog.ReloadRejected(_logger, ex.Message, ex);
                    rejected[server.Name] = ex.Message;
                }
            }

            foreach (var (endpoint, running) in _endpoints.Where(e => !wanted.Contains(e.Key) && !rejected.ContainsKey(e.Value.Server.Name)).ToArray())
            {
                _endpoints.Remove(endpoint);

                // An inherited socket cannot be opened again once closed: a renamed or re-tuned fd:// endpoint
                // keeps its listener (a changed Backlog applies at the next start).
                var renamed = endpoint.FileHandle is { } handle
                    ? wanted.FirstOrDefault(e => e.FileHandle == handle && !_endpoints.ContainsKey(e))
                    : null;
                if (renamed is not null)
                {
                    _endpoints[renamed] = running;
                    continue;
                }

                running.Server.StopListener(running.Listener);
                if (endpoint.FileHandle is { } closed)
                {
                    _closedHandles.Add(closed);
                }
            }

            foreach (var server in settings)
            {
                if (rejected.TryGetValue(server.Name, out var why))
                {
                    var running = _endpoints.Keys.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
                    foreach (var endpoint in server.Endpoints.Where(e => !running.Contains(e.Key)))
                    {
                        _failedEndpoints[endpoint.Key] = why;
                    }

                    continue;
                }

                var instance = services.GetRequiredKeyedService<TcpServer>(server.Name);
                foreach (var endpoint in server.Endpoints.Where(e => !_endpoints.ContainsKey(e)))
                {
                    try
                    {
                        if (endpoint.FileHandle is { } handle && _closedHandles.Contains(handle))
                        {
                            throw new InvalidOperationException(
                                $"{endpoint.Key}:Url: '{endpoint.Url}' was closed when its endpoint was removed; an inherited socket cannot be adopted again.");
                        }

                        _endpoints[endpoint] = (instance, Listen(instance, endpoint));
                        _failedEndpoints.Remove(endpoint.Key);
                    }
#pragma warning disable CA1031 // One endpoint that cannot start must not stop the rest of the change.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        TurboLog.ReloadEndpointFailed(_logger, ex.Message, ex);
                        _failedEndpoints[endpoint.Key] = ex.Message;
                    }
                }
            }

            // The certificate files may have moved with the change.
            StopWatchingCertificates();
            WatchCertificates();
        }
    }

    /// <summary>Applies a server's settings; a certificate that cannot be loaded is an error naming the <c>Ssl</c> key.</summary>
    private void Attach(TcpServer server, ServerSettings settings)
    {
        try
        {
            server.AttachToHost(loop, settings.Name, settings.MaxBufferSize, settings.Ssl?.ToOptions(_contentRoot));
            settings.Proxy?.ApplyTo(server.ProxyProtocol);
            server.ApplyLimits(settings.Limits);
        }
        catch (Exception ex) when (ex is FileNotFoundException or InvalidOperationException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{settings.Ssl!.Key}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Watches the certificate and key files of every TLS server: when they change on disk, new connections get the
    /// new certificate; one that cannot be loaded (for example half written) is logged and the old one stays.
    /// </summary>
    private void WatchCertificates()
    {
        lock (_gate)
        {
            foreach (var server in _started.Where(s => s.Tls is not null && s.SslOptions is not null))
            {
                var options = server.SslOptions!;
                foreach (var file in new[] { options.CertFile, options.KeyFile }.OfType<string>().Distinct())
                {
                    var provider = new PhysicalFileProvider(Path.GetDirectoryName(Path.GetFullPath(file))!);
                    _certificateWatches.Add(provider);
                    _certificateWatches.Add(ChangeToken.OnChange(() => provider.Watch(Path.GetFileName(file)), () => Rotate(server, options)));
                }
            }
        }
    }

    private void StopWatchingCertificates()
    {
        lock (_gate)
        {
            _certificateWatches.ForEach(w => w.Dispose());
            _certificateWatches.Clear();
        }
    }

    private void Rotate(TcpServer server, SslOptions options)
    {
        try
        {
            if (server.Tls is { } tls)
            {
                tls.Certificate.Current = ServerCertificate.Load(options);
            }

            TurboLog.CertificateReloaded(_logger, server.Name, options.CertFile!);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            TurboLog.CertificateReloadFailed(_logger, server.Name, ex.Message, ex);
        }
    }

    /// <summary>Listens on one configured endpoint; errors name its key.</summary>
    private static ListenerGroup Listen(TcpServer server, EndpointSettings endpoint)
    {
        try
        {
            return endpoint.FileHandle is { } handle
                ? AdoptInherited(server, handle, endpoint.Backlog)
                : server.ListenTracked(endpoint.Port, endpoint.Host, endpoint.Backlog, endpoint.Family, endpoint.ReusePort);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or NotSupportedException or SocketException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{endpoint.Key}:Url: cannot listen on '{endpoint.Url}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Serves an inherited listening socket (systemd socket activation passes fd 3 and up). It is checked through a
    /// handle that does not own the descriptor, so refusing it never closes a descriptor the application may be
    /// using; once accepted, the server owns it and closes it when it stops.
    /// </summary>
    private static ListenerGroup AdoptInherited(TcpServer server, int handle, int backlog)
    {
        using (var probe = new Socket(new SafeSocketHandle(handle, ownsHandle: false)))
        {
            if (!probe.IsBound || !ListenSocket.IsListening(probe))
            {
                throw new ArgumentException($"descriptor {handle} is not a bound, listening socket.");
            }
        }

        var socket = new Socket(new SafeSocketHandle(handle, ownsHandle: true));
        try
        {
            return server.AddSocketsCore([socket], backlog)!;
        }
        catch
        {
            socket.SafeHandle.SetHandleAsInvalid();
            throw;
        }
    }
}
