using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Turbo.Kestrel.Diagnostics;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// Watches the certificate and key files of every TLS server the host runs: when they change on disk, new
/// connections get the new certificate; one that cannot be loaded (for example half written) is logged and the old
/// one stays.
/// </summary>
internal sealed class CertificateWatcher(ILogger logger) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<IDisposable> _watches = [];

    /// <summary>Watches the files of <paramref name="servers"/>, instead of whatever was watched before.</summary>
    public void Watch(IEnumerable<HostedServer> servers)
    {
        lock (_gate)
        {
            Unwatch();
            foreach (var server in servers)
            {
                if (server.Server.Tls?.Options is not { } options)
                {
                    continue;
                }

                foreach (var file in new[] { options.CertFile, options.KeyFile }.OfType<string>().Distinct())
                {
                    var provider = new PhysicalFileProvider(Path.GetDirectoryName(Path.GetFullPath(file))!);
                    _watches.Add(provider);
                    _watches.Add(ChangeToken.OnChange(() => provider.Watch(Path.GetFileName(file)), () => Reload(server)));
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            Unwatch();
        }
    }

    private void Unwatch()
    {
        _watches.ForEach(w => w.Dispose());
        _watches.Clear();
    }

    private void Reload(HostedServer server)
    {
        if (server.Server.Tls is not { } tls)
        {
            return;
        }

        try
        {
            tls.ReloadCertificate();
            TurboLog.CertificateReloaded(logger, server.Name, tls.Options.CertFile!);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            TurboLog.CertificateReloadFailed(logger, server.Name, ex.Message, ex);
        }
    }
}
