using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Turbo.Kestrel.Hosting;

/// <summary>Starts the registered servers with the host and drains them when it stops.</summary>
internal sealed class TurboHostedService(TurboBuilder turbo, IServiceProvider services, IConfiguration configuration, IOLoop loop)
    : IHostedService
{
    private readonly List<TcpServer> _started = [];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var settings = TurboConfigurationReader.Read(configuration, turbo.ServerNames);
        try
        {
            foreach (var server in settings)
            {
                cancellationToken.ThrowIfCancellationRequested();
                _started.Add(Start(server));
            }
        }
        catch
        {
            // The host is not starting: close what did start, without waiting for its clients.
            await Task.WhenAll(_started.Select(s => s.StopAsync(TimeSpan.Zero))).ConfigureAwait(false);
            _started.Clear();
            throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // The host cancels the token when HostOptions.ShutdownTimeout runs out: connections still open then are aborted.
        var stopping = _started.Select(s => s.StopAsync(Timeout.InfiniteTimeSpan, cancellationToken)).ToArray();
        _started.Clear();
        return Task.WhenAll(stopping);
    }

    private TcpServer Start(ServerSettings settings)
    {
        var server = services.GetRequiredKeyedService<TcpServer>(settings.Name);
        server.AttachToHost(loop, settings.Name, settings.MaxBufferSize);
        foreach (var endpoint in settings.Endpoints)
        {
            try
            {
                Listen(server, endpoint);
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or NotSupportedException or SocketException)
            {
                _started.Add(server);
                throw new InvalidOperationException($"{endpoint.Key}:Url: cannot listen on '{endpoint.Url}': {ex.Message}", ex);
            }
        }

        return server;
    }

    private static void Listen(TcpServer server, EndpointSettings endpoint)
    {
        if (endpoint.FileHandle is { } handle)
        {
            // An inherited socket (systemd socket activation passes fd 3 and up): the server owns it from now on.
            server.AddSocket(new Socket(new SafeSocketHandle(handle, ownsHandle: true)));
            return;
        }

        server.Listen(endpoint.Port, endpoint.Host, endpoint.Backlog, endpoint.Family);
    }
}
