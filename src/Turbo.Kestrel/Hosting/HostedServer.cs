using Microsoft.Extensions.DependencyInjection;
using Turbo.Kestrel.Limits;
using Turbo.Kestrel.Tls;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// A server the host runs: made by dependency injection, then configured from its <c>Turbo:Servers:&lt;name&gt;</c>
/// section on top of what its code set. The code's values are taken once, before the first section is applied, so
/// that a key removed on reload goes back to them.
/// </summary>
internal sealed class HostedServer
{
    private readonly long _codeMaxBufferSize;
    private readonly LimitValues _codeLimits;
    private readonly SslOptions? _codeSsl;

    private HostedServer(TcpServer server, string name)
    {
        Server = server;
        Name = name;
        _codeMaxBufferSize = server.MaxBufferSize;
        _codeLimits = server.Limits.Current;
        _codeSsl = server.SslOptions;
    }

    public TcpServer Server { get; }

    /// <summary>The name given to <c>AddServer</c>.</summary>
    public string Name { get; }

    /// <summary>Makes the server registered under the settings' name.</summary>
    /// <exception cref="InvalidOperationException">Its constructor failed; the message names the server's section.</exception>
    public static HostedServer Create(IServiceProvider services, ServerSettings settings)
    {
        try
        {
            return new HostedServer(services.GetRequiredKeyedService<TcpServer>(settings.Name), settings.Name);
        }
#pragma warning disable CA1031 // Whatever the constructor throws, the host's start fails with it, naming the section.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            throw new InvalidOperationException($"{settings.Key}: the server could not be created: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Applies a server's settings: TLS first (a certificate that cannot be loaded is an error naming the <c>Ssl</c>
    /// key, and changes nothing), then the loop, the name, <c>MaxBufferSize</c>, PROXY protocol and the limits.
    /// </summary>
    public void Apply(ServerSettings settings, IOLoop loop)
    {
        if (settings.Ssl is { } ssl)
        {
            ApplyTls(WithCodeOnlySettings(ssl), settings.SslKey);
        }

        Server.AttachToHost(loop, Name, settings.MaxBufferSize ?? _codeMaxBufferSize);
        if (settings.Proxy is { } proxy)
        {
            Server.ProxyProtocol.CopyFrom(proxy);
        }

        Server.Limits.Replace(_codeLimits.Overlay(settings.Limits));
    }

    private void ApplyTls(SslOptions options, string key)
    {
        try
        {
            if (Server.Tls is { } tls)
            {
                tls.Update(options);
            }
            else
            {
                Server.Tls = new ServerTls(options);
            }
        }
        catch (Exception ex) when (ex is FileNotFoundException or InvalidOperationException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{key}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// The section's TLS settings with what configuration cannot express, a validation callback and ALPN, taken
    /// from the settings the code gave.
    /// </summary>
    private SslOptions WithCodeOnlySettings(SslOptions fromConfiguration)
    {
        var options = new SslOptions
        {
            CertFile = fromConfiguration.CertFile,
            KeyFile = fromConfiguration.KeyFile,
            Password = fromConfiguration.Password,
            ClientCertificateMode = fromConfiguration.ClientCertificateMode,
            Protocols = fromConfiguration.Protocols,
            HandshakeTimeout = fromConfiguration.HandshakeTimeout,
            ClientCertificateValidation = _codeSsl?.ClientCertificateValidation,
        };
        foreach (var protocol in _codeSsl?.ApplicationProtocols ?? [])
        {
            options.ApplicationProtocols.Add(protocol);
        }

        return options;
    }
}
