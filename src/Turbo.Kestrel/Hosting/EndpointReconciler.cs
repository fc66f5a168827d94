using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Diagnostics;
using Turbo.Kestrel.Health;
using Turbo.Kestrel.Listening;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// Keeps the configured endpoints listening: all of them at start, and after each configuration change it closes the
/// listeners of endpoints that were removed or changed and starts the new ones. Not thread-safe: the hosted service
/// calls it under its lock.
/// </summary>
/// <remarks>
/// <para>At start, the first endpoint that cannot listen fails the start, naming its key. On reload, one that cannot
/// listen is logged and reported not listening (health), and the others are applied.</para>
/// <para>Inherited sockets (<c>fd://N</c>) follow their own rules: a socket closed (its endpoint was removed) cannot be
/// opened again, and a renamed or re-tuned <c>fd://</c> endpoint keeps its listener (a changed backlog applies at the
/// next start).</para>
/// </remarks>
internal sealed class EndpointReconciler(ILogger logger)
{
    private readonly Dictionary<EndpointSettings, (HostedServer Server, ListenerGroup Listener)> _running = [];
    private readonly Dictionary<string, string> _failed = [];
    private readonly HashSet<int> _closedHandles = [];

    /// <summary>The Kestrel instances of the running endpoints.</summary>
    public IEnumerable<ListenerGroup> Listeners => _running.Values.Select(e => e.Listener).Distinct();

    /// <summary>Every configured endpoint: listening (with what it is bound to), or not, with why.</summary>
    public IReadOnlyList<EndpointHealth> Health => _running
        .Select(e => new EndpointHealth(e.Key.Key, string.Join(", ", e.Value.Listener.EndPoints), e.Value.Listener.IsListening, null))
        .Concat(_failed.Select(f => new EndpointHealth(f.Key, null, false, f.Value)))
        .OrderBy(e => e.Key, StringComparer.Ordinal)
        .ToArray();

    /// <summary>Listens on every endpoint of a server at start.</summary>
    /// <exception cref="InvalidOperationException">An endpoint cannot listen; the message names its key.</exception>
    public void Start(HostedServer server, ServerSettings settings)
    {
        foreach (var endpoint in settings.Endpoints)
        {
            _running[endpoint] = (server, Listen(server.Server, endpoint));
        }
    }

    /// <summary>Applies changed settings: removed or changed endpoints close, new ones listen.</summary>
    /// <param name="settings">Every server's settings, as they are now.</param>
    /// <param name="servers">The running servers, by name.</param>
    /// <param name="rejected">Servers whose settings could not be applied, with why: their running endpoints stay as
    /// they are, and their new endpoints are reported not listening.</param>
    public void Apply(IReadOnlyList<ServerSettings> settings, IReadOnlyDictionary<string, HostedServer> servers, IReadOnlyDictionary<string, string> rejected)
    {
        var wanted = settings.SelectMany(s => s.Endpoints).ToHashSet();
        foreach (var gone in _failed.Keys.Where(key => !wanted.Any(e => e.Key == key)).ToArray())
        {
            _failed.Remove(gone);
        }

        foreach (var (endpoint, running) in _running.Where(e => !wanted.Contains(e.Key) && !rejected.ContainsKey(e.Value.Server.Name)).ToArray())
        {
            Close(endpoint, running, wanted);
        }

        foreach (var server in settings)
        {
            if (rejected.TryGetValue(server.Name, out var why))
            {
                var runningKeys = _running.Keys.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
                foreach (var endpoint in server.Endpoints.Where(e => !runningKeys.Contains(e.Key)))
                {
                    _failed[endpoint.Key] = why;
                }

                continue;
            }

            foreach (var endpoint in server.Endpoints.Where(e => !_running.ContainsKey(e)))
            {
                TryStart(servers[server.Name], endpoint);
            }
        }
    }

    /// <summary>Forgets every endpoint (the host stops; its servers close their listeners themselves).</summary>
    public void Clear()
    {
        _running.Clear();
        _failed.Clear();
    }

    private void Close(EndpointSettings endpoint, (HostedServer Server, ListenerGroup Listener) running, HashSet<EndpointSettings> wanted)
    {
        _running.Remove(endpoint);
        if (endpoint.Url.FileHandle is { } handle)
        {
            var renamed = wanted.FirstOrDefault(e => e.Url.FileHandle == handle && !_running.ContainsKey(e));
            if (renamed is not null)
            {
                _running[renamed] = running;
                return;
            }

            _closedHandles.Add(handle);
        }

        running.Server.Server.Listeners.Close(running.Listener);
    }

    private void TryStart(HostedServer server, EndpointSettings endpoint)
    {
        try
        {
            if (endpoint.Url.FileHandle is { } handle && _closedHandles.Contains(handle))
            {
                throw new InvalidOperationException(
                    $"{endpoint.Key}:Url: '{endpoint.Url}' was closed when its endpoint was removed; an inherited socket cannot be adopted again.");
            }

            _running[endpoint] = (server, Listen(server.Server, endpoint));
            _failed.Remove(endpoint.Key);
        }
#pragma warning disable CA1031 // One endpoint that cannot start must not stop the rest of the change.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            TurboLog.ReloadEndpointFailed(logger, ex.Message, ex);
            _failed[endpoint.Key] = ex.Message;
        }
    }

    /// <summary>Listens on one configured endpoint; errors name its key.</summary>
    private static ListenerGroup Listen(TcpServer server, EndpointSettings endpoint)
    {
        try
        {
            return endpoint.Url.FileHandle is { } handle
                ? InheritedSocket.Serve(server.Listeners, handle, endpoint.Backlog)
                : server.Listeners.Listen(endpoint.Url.Addresses, endpoint.Backlog, endpoint.ReusePort);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or NotSupportedException or SocketException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{endpoint.Key}:Url: cannot listen on '{endpoint.Url}': {ex.Message}", ex);
        }
    }
}
