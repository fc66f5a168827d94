using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Turbo.Kestrel;
using Turbo.Kestrel.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>Adds Turbo.Kestrel TCP servers to a host.</summary>
public static class TurboHostApplicationBuilderExtensions
{
    /// <summary>
    /// Runs Turbo TCP servers in this host, beside (and independent of) its HTTP endpoints. Servers are
    /// configured under <c>Turbo:Servers:&lt;name&gt;</c>, which is validated when the host starts, before any hosted
    /// service (a bad value fails the start with an <see cref="OptionsValidationException"/> naming its key), start with the host (a bind error
    /// fails the start with an <see cref="InvalidOperationException"/> naming the key) and drain when it stops, within
    /// <see cref="HostOptions.ShutdownTimeout"/>.
    /// Calling it again returns the same builder.
    /// </summary>
    /// <param name="builder">The host builder, e.g. from <c>WebApplication.CreateBuilder(args)</c> or <c>Host.CreateApplicationBuilder(args)</c>.</param>
    /// <returns>A builder to register servers with.</returns>
    public static ITurboBuilder UseTurboTcp(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var existing = builder.Services
            .Where(d => d.ServiceType == typeof(TurboBuilder) && d.ImplementationInstance is TurboBuilder)
            .Select(d => (TurboBuilder)d.ImplementationInstance!)
            .FirstOrDefault();
        if (existing is not null)
        {
            return existing;
        }

        var turbo = new TurboBuilder(builder.Services);
        builder.Services.AddSingleton(turbo);
        builder.Services.TryAddSingleton(static provider => new IOLoop(provider));
        builder.Services.AddOptions<TurboSettings>()
            .Configure<IConfiguration, IServiceProvider>((settings, configuration, services) => settings.Load(
                configuration, turbo.ServerNames, services.GetService<IHostEnvironment>()?.ContentRootPath ?? Environment.CurrentDirectory));

        // The settings are read again whenever the configuration reloads (TurboHostedService applies them).
        builder.Services.AddSingleton<IOptionsChangeTokenSource<TurboSettings>>(
            static provider => new ConfigurationChangeTokenSource<TurboSettings>(provider.GetRequiredService<IConfiguration>()));
        builder.Services.AddSingleton<TurboHostedService>();
        builder.Services.AddHostedService(static provider => provider.GetRequiredService<TurboHostedService>());
        return turbo;
    }
}
