using Microsoft.Extensions.DependencyInjection;

namespace Turbo.Kestrel.Hosting;

/// <summary>Collects the servers registered with <see cref="ITurboBuilder.AddServer{TServer}(string)"/>.</summary>
internal sealed class TurboBuilder(IServiceCollection services) : ITurboBuilder
{
    private readonly List<string> _serverNames = [];

    public IServiceCollection Services { get; } = services;

    /// <summary>The registered names, in registration order.</summary>
    public IReadOnlyList<string> ServerNames => _serverNames;

    public ITurboBuilder AddServer<TServer>(string name)
        where TServer : TcpServer
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The server name '{name}' must not contain ':' (it names a configuration section).", nameof(name));
        }

        if (_serverNames.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"A Turbo server named '{name}' is already registered.", nameof(name));
        }

        _serverNames.Add(name);
        Services.AddKeyedSingleton<TcpServer>(name, static (provider, _) => ActivatorUtilities.CreateInstance<TServer>(provider));
        return this;
    }
}
