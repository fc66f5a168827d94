using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// The HTTP application Kestrel requires to start. Turbo listeners end in a terminal connection
/// delegate and speak no HTTP, so it is never called.
/// </summary>
internal sealed class NoHttpApplication : IHttpApplication<object>
{
    public static readonly NoHttpApplication Instance = new();

    public object CreateContext(IFeatureCollection contextFeatures) =>
        throw new NotSupportedException("Turbo.Kestrel listeners do not serve HTTP.");

    public Task ProcessRequestAsync(object context) => Task.CompletedTask;

    public void DisposeContext(object context, Exception? exception)
    {
    }
}
