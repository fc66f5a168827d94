using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Turbo.Kestrel.Limits;
using Turbo.Kestrel.Listening;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// Reads and validates the <c>Turbo</c> configuration section. Every error is an
/// <see cref="InvalidOperationException"/> whose message starts with the full key that is wrong.
/// </summary>
/// <remarks>
/// <code>
/// "Turbo": {
///   "Servers": {
///     "Echo": {
///       "MaxBufferSize": 1048576,
///       "Endpoints": { "Public": { "Url": "tcp://0.0.0.0:7000", "Backlog": 128 } }
///     }
///   }
/// }
/// </code>
/// </remarks>
internal static class TurboConfigurationReader
{
    public const string SectionName = "Turbo";
    private static readonly string[] RootKeys = ["Servers", "InlineScheduling"];
    private static readonly string[] ServerKeys = ["Endpoints", "MaxBufferSize", "Ssl", "ProxyProtocol", "Limits"];
    private static readonly string[] LimitKeys = ["MaxConnections", "IdleTimeout", "WriteTimeout", "MinReadRate"];
    private static readonly string[] RateKeys = ["BytesPerSecond", "GracePeriod"];
    private static readonly string[] ProxyKeys = ["Mode", "TrustedProxies", "HeaderTimeout"];
    private static readonly string[] SslKeys = ["CertFile", "KeyFile", "Password", "ClientCertificateMode", "Protocols", "HandshakeTimeout"];
    private static readonly string[] EndpointKeys = ["Url", "Backlog", "ReusePort"];

    /// <summary>Reads the settings of every registered server (servers with no section get empty settings).</summary>
    /// <param name="configuration">The application's configuration.</param>
    /// <param name="serverNames">The names given to <c>AddServer</c>.</param>
    /// <param name="contentRoot">Where relative certificate paths start.</param>
    public static IReadOnlyList<ServerSettings> Read(IConfiguration configuration, IReadOnlyList<string> serverNames, string contentRoot)
    {
        var root = configuration.GetSection(SectionName);
        RejectUnknownKeys(root, RootKeys);
        var servers = root.GetSection("Servers");
        foreach (var section in servers.GetChildren())
        {
            if (!serverNames.Contains(section.Key, StringComparer.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException(
                    $"{section.Path}: no server named '{section.Key}' is registered. Register it with UseTurboTcp().AddServer<TServer>(\"{section.Key}\"), or remove the section. Registered: {Describe(serverNames)}.");
            }
        }

        var settings = serverNames.Select(name => ReadServer(servers.GetSection(name), name, contentRoot)).ToArray();
        RejectSharedDescriptors(settings);
        return settings;
    }

    /// <summary><c>Turbo:InlineScheduling</c> (see <see cref="IOLoop.InlineScheduling"/>), or null when absent.</summary>
    public static bool? ReadInlineScheduling(IConfiguration configuration) =>
        ReadBoolean(configuration.GetSection(SectionName).GetSection("InlineScheduling"));

    private static bool? ReadBoolean(IConfigurationSection section)
    {
        if (section.Value is null)
        {
            return null;
        }

        return bool.TryParse(section.Value.Trim(), out var value)
            ? value
            : throw new InvalidOperationException($"{section.Path}: '{section.Value}' is not true or false.");
    }

    /// <summary>A socket serves one endpoint: the same fd:// twice would break both accept loops.</summary>
    private static void RejectSharedDescriptors(IEnumerable<ServerSettings> settings)
    {
        var shared = settings.SelectMany(s => s.Endpoints)
            .Where(e => e.Url.FileHandle is not null)
            .GroupBy(e => e.Url.FileHandle)
            .FirstOrDefault(g => g.Count() > 1);
        if (shared is not null)
        {
            var keys = shared.Select(e => e.Key + ":Url").ToArray();
            throw new InvalidOperationException(
                $"{keys[1]}: fd://{shared.Key} is already the endpoint {keys[0]}; an inherited socket serves one endpoint.");
        }
    }

    private static ServerSettings ReadServer(IConfigurationSection section, string name, string contentRoot)
    {
        RejectUnknownKeys(section, ServerKeys);
        var maxBufferSize = ReadInteger(section.GetSection("MaxBufferSize"), 1, long.MaxValue);
        var endpoints = section.GetSection("Endpoints").GetChildren().Select(ReadEndpoint).ToArray();
        var ssl = ReadSsl(section.GetSection("Ssl"), contentRoot);
        var tlsWithoutCertificate = endpoints.FirstOrDefault(e => e.Url.IsTls) is { } tls && ssl is null ? tls : null;
        if (tlsWithoutCertificate is not null)
        {
            throw new InvalidOperationException(
                $"{tlsWithoutCertificate.Key}:Url: '{tlsWithoutCertificate.Url}' asks for TLS, but {section.Path}:Ssl gives no certificate (CertFile, KeyFile).");
        }

        return new ServerSettings(
            name, section.Path, maxBufferSize, endpoints, ssl, ReadProxy(section.GetSection("ProxyProtocol")), ReadLimits(section.GetSection("Limits")));
    }

    private static LimitValues? ReadLimits(IConfigurationSection section)
    {
        if (!section.Exists())
        {
            return null;
        }

        RejectUnknownKeys(section, LimitKeys);
        var maxConnections = (int?)ReadInteger(section.GetSection("MaxConnections"), 1, int.MaxValue);
        var idleTimeout = ReadOptionalTimeSpan(section.GetSection("IdleTimeout"));
        var writeTimeout = ReadOptionalTimeSpan(section.GetSection("WriteTimeout"));
        var rate = section.GetSection("MinReadRate");
        MinDataRate? minReadRate = null;
        if (rate.Exists())
        {
            RejectUnknownKeys(rate, RateKeys);
            var bytesPerSecond = ReadInteger(rate.GetSection("BytesPerSecond"), 1, int.MaxValue)
                ?? throw new InvalidOperationException($"{rate.Path}:BytesPerSecond: a minimum read rate needs its bytes per second.");
            var grace = rate.GetSection("GracePeriod");
            var gracePeriod = ReadTimeSpan(grace, TimeSpan.FromSeconds(5));
            if (gracePeriod <= TimeSpan.FromSeconds(1))
            {
                throw new InvalidOperationException($"{grace.Path}: '{grace.Value}' must be longer than 1 second (the heartbeat that checks the rate).");
            }

            minReadRate = new MinDataRate(bytesPerSecond, gracePeriod);
        }

        return new LimitValues(maxConnections, idleTimeout, writeTimeout, minReadRate);
    }

    private static TimeSpan? ReadOptionalTimeSpan(IConfigurationSection section) =>
        section.Value is null ? null : ReadTimeSpan(section, TimeSpan.Zero);

    private static ProxyProtocolOptions? ReadProxy(IConfigurationSection section)
    {
        if (!section.Exists())
        {
            return null;
        }

        RejectUnknownKeys(section, ProxyKeys);
        var mode = ReadEnum(section.GetSection("Mode"), ProxyProtocolMode.Off);
        var trusted = section.GetSection("TrustedProxies");
        var entries = trusted.Value is { } list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => (trusted.Path, Value: v))
            : trusted.GetChildren().Select(c => (c.Path, Value: c.Value ?? string.Empty));
        var options = new ProxyProtocolOptions { Mode = mode };
        var networks = options.TrustedProxies;
        foreach (var (path, value) in entries)
        {
            if (IPNetwork.TryParse(value, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(value, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                throw new InvalidOperationException($"{path}: '{value}' is not an IP address or a CIDR range such as 10.0.0.0/8.");
            }
        }

        if (mode != ProxyProtocolMode.Off && networks.Count == 0)
        {
            throw new InvalidOperationException($"{trusted.Path}: ProxyProtocol Mode {mode} needs the proxies it may come from (addresses or CIDR ranges).");
        }

        options.HeaderTimeout = ReadTimeSpan(section.GetSection("HeaderTimeout"), options.HeaderTimeout);
        return options;
    }

    private static TimeSpan ReadTimeSpan(IConfigurationSection section, TimeSpan defaultValue)
    {
        if (section.Value is null)
        {
            return defaultValue;
        }

        if (!TimeSpan.TryParse(section.Value, CultureInfo.InvariantCulture, out var value) || value <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"{section.Path}: '{section.Value}' is not a positive time span such as 00:00:10.");
        }

        return value;
    }

    private static SslOptions? ReadSsl(IConfigurationSection section, string contentRoot)
    {
        if (!section.Exists())
        {
            return null;
        }

        RejectUnknownKeys(section, SslKeys);
        var certFile = section["CertFile"];
        if (string.IsNullOrWhiteSpace(certFile))
        {
            throw new InvalidOperationException($"{section.Path}:CertFile: TLS needs a certificate file (PEM, or .pfx/.p12).");
        }

        var keyFile = section["KeyFile"];
        var options = new SslOptions
        {
            CertFile = Path.Combine(contentRoot, certFile),
            KeyFile = keyFile is null ? null : Path.Combine(contentRoot, keyFile),
            Password = section["Password"],
            ClientCertificateMode = ReadEnum(section.GetSection("ClientCertificateMode"), ClientCertificateMode.NoCertificate),
            Protocols = ReadEnum(section.GetSection("Protocols"), SslProtocols.None),
        };
        options.HandshakeTimeout = ReadTimeSpan(section.GetSection("HandshakeTimeout"), options.HandshakeTimeout);
        return options;
    }

    private static TEnum ReadEnum<TEnum>(IConfigurationSection section, TEnum defaultValue)
        where TEnum : struct, Enum
    {
        if (section.Value is null)
        {
            return defaultValue;
        }

        if (!Enum.TryParse<TEnum>(section.Value, ignoreCase: true, out var value) || int.TryParse(section.Value, CultureInfo.InvariantCulture, out _))
        {
            throw new InvalidOperationException($"{section.Path}: '{section.Value}' is not one of {string.Join(", ", Enum.GetNames<TEnum>())}.");
        }

        return value;
    }

    private static EndpointSettings ReadEndpoint(IConfigurationSection section)
    {
        RejectUnknownKeys(section, EndpointKeys);
        var urlSection = section.GetSection("Url");
        if (string.IsNullOrWhiteSpace(urlSection.Value))
        {
            throw new InvalidOperationException($"{urlSection.Path}: an endpoint needs a Url, for example tcp://127.0.0.1:7000.");
        }

        var url = urlSection.Value;
        EndpointUrl parsed;
        try
        {
            parsed = EndpointUrl.Parse(url);
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{urlSection.Path}: '{url}' is not a valid endpoint URL: {ex.Message}.", ex);
        }

        var backlog = (int?)ReadInteger(section.GetSection("Backlog"), 1, int.MaxValue) ?? ListenSocket.DefaultBacklog;
        var reusePort = ReadBoolean(section.GetSection("ReusePort")) ?? false;
        if (reusePort && (parsed.FileHandle is not null || parsed.IsUnix))
        {
            throw new InvalidOperationException($"{section.Path}:ReusePort: applies to tcp:// and tls:// endpoints only, not to '{url}'.");
        }

        if (reusePort && !OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException($"{section.Path}:ReusePort: SO_REUSEPORT load balancing is supported on Linux only.");
        }

        return new EndpointSettings(section.Path, parsed, backlog, reusePort);
    }

    private static long? ReadInteger(IConfigurationSection section, long min, long max)
    {
        if (section.Value is null)
        {
            return null;
        }

        if (!long.TryParse(section.Value, NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var value)
            || value < min || value > max)
        {
            throw new InvalidOperationException($"{section.Path}: '{section.Value}' is not a whole number from {min} to {max}.");
        }

        return value;
    }

    private static void RejectUnknownKeys(IConfigurationSection section, string[] known)
    {
        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"{child.Path}: '{child.Key}' is not a known setting. Known settings here: {Describe(known)}.");
            }
        }
    }

    private static string Describe(IEnumerable<string> names)
    {
        var list = string.Join(", ", names);
        return list.Length == 0 ? "(none)" : list;
    }
}
