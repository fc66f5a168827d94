using Microsoft.Extensions.Configuration;

namespace Turbo.Kestrel.Testing;

/// <summary>An in-memory configuration source whose values the test replaces while the host runs, firing a reload.</summary>
internal sealed class ReloadableConfiguration : IConfigurationSource
{
    private readonly Provider _provider = new();

    public ReloadableConfiguration(IDictionary<string, string?> initial) => _provider.Replace(initial, reload: false);

    /// <summary>A host builder whose only configuration is <paramref name="settings"/>, changeable through <paramref name="config"/>.</summary>
    public static Microsoft.Extensions.Hosting.HostApplicationBuilder HostBuilder(IDictionary<string, string?> settings, out ReloadableConfiguration config)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        config = new ReloadableConfiguration(settings);
        builder.Configuration.Sources.Clear();
        ((IConfigurationBuilder)builder.Configuration).Add(config);
        return builder;
    }

    public IConfigurationProvider Build(IConfigurationBuilder builder) => _provider;

    /// <summary>Replaces every value and signals a configuration change, as an edited appsettings.json does.</summary>
    public void Replace(IDictionary<string, string?> values) => _provider.Replace(values, reload: true);

    private sealed class Provider : ConfigurationProvider
    {
        public void Replace(IDictionary<string, string?> values, bool reload)
        {
            Data = new Dictionary<string, string?>(values, StringComparer.OrdinalIgnoreCase);
            if (reload)
            {
                OnReload();
            }
        }
    }
}
