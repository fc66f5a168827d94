using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Listening;

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
    TurboBuilder turbo, IServiceProvider services, IConfiguration configuration, IOLoop loop, ILoggerFactory loggerFactory)
    : IHostedService, IDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(TurboLog.Category);
    private readonly Lock _gate = new();
    private readonly List<TcpServer> _started = [];
    private readonly Dictionary<EndpointSettings, (TcpServer Server, ListenerGroup Listener)> _endpoints = [];
    private IDisposable? _reloads;
    private bool _stopping;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = TurboConfigurationReader.Read(configuration, turbo.ServerNames);
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
            await Task.WhenAll(_started.Select(s => s.StopAsync(TimeSpan.Zero))).ConfigureAwait(false);
            _started.Clear();
            _endpoints.Clear();
            throw;
        }

        _reloads = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        TcpServer[] servers;
        lock (_gate)
        {
            _stopping = true;
            servers = [.. _started];
            _started.Clear();
            _endpoints.Clear();
        }

        _reloads?.Dispose();

        // The host cancels the token when HostOptions.ShutdownTimeout runs out: connections still open then are aborted.
        return Task.WhenAll(servers.Select(s => s.StopAsync(Timeout.InfiniteTimeSpan, cancellationToken)));
    }

    public void Dispose() => _reloads?.Dispose();

    private void Start(ServerSettings settings)
    {
        var server = services.GetRequiredKeyedService<TcpServer>(settings.Name);
        server.AttachToHost(loop, settings.Name, settings.MaxBufferSize);
        _started.Add(server);
        foreach (var endpoint in settings.Endpoints)
        {
            _endpoints[endpoint] = (server, Listen(server, endpoint));
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
            foreach (var (endpoint, (server, listener)) in _endpoints.Where(e => !wanted.Contains(e.Key)).ToArray())
            {
                server.StopListener(listener);
                _endpoints.Remove(endpoint);
            }

            foreach (var server in settings)
            {
                var instance = services.GetRequiredKeyedService<TcpServer>(server.Name);
                instance.AttachToHost(loop, server.Name, server.MaxBufferSize);
                foreach (var endpoint in server.Endpoints.Where(e => !_endpoints.ContainsKey(e)))
                {
                    try
                    {
                        _endpoints[endpoint] = (instance, Listen(instance, endpoint));
                    }
                    catch (InvalidOperationException ex)
                    {
                        TurboLog.ReloadEndpointFailed(_logger, ex.Message, ex);
                    }
                }
            }
        }
    }

    /// <summary>Listens on one configured endpoint; errors name its key.</summary>
    private static ListenerGroup Listen(TcpServer server, EndpointSettings endpoint)
    {
        try
        {
            return endpoint.FileHandle is { } handle

                // An inherited socket (systemd socket activation passes fd 3 and up): the server owns it from now on.
                ? server.AddSocketTracked(new Socket(new SafeSocketHandle(handle, ownsHandle: true)))
                : server.ListenTracked(endpoint.Port, endpoint.Host, endpoint.Backlog, endpoint.Family);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or NotSupportedException or SocketException)
        {
            throw new InvalidOperationException($"{endpoint.Key}:Url: cannot listen on '{endpoint.Url}': {ex.Message}", ex);
        }
    }
}
