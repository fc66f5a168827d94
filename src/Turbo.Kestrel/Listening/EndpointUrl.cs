using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// An endpoint URL from configuration, parsed into what its listener binds: <c>tcp://host:port</c> or
/// <c>tls://host:port</c> (host: <c>*</c>, <c>localhost</c>, an IPv4 literal or <c>[an IPv6 literal]</c>),
/// <c>unix:/path</c>, or <c>fd://N</c> (an inherited listening socket). Two URLs are equal when their text is.
/// </summary>
internal sealed class EndpointUrl : IEquatable<EndpointUrl>
{
    private EndpointUrl(string text, IReadOnlyList<ListenAddress> addresses, int? fileHandle, bool isTls)
    {
        Text = text;
        Addresses = addresses;
        FileHandle = fileHandle;
        IsTls = isTls;
    }

    /// <summary>The URL as written.</summary>
    public string Text { get; }

    /// <summary>What to bind; empty for <c>fd://</c>.</summary>
    public IReadOnlyList<ListenAddress> Addresses { get; }

    /// <summary>For <c>fd://N</c>: the inherited listening socket's descriptor.</summary>
    public int? FileHandle { get; }

    /// <summary>Written as <c>tls://</c>: the server must have TLS.</summary>
    public bool IsTls { get; }

    /// <summary>A unix domain socket (<c>unix:/path</c>).</summary>
    public bool IsUnix => Addresses is [{ EndPoint: UnixDomainSocketEndPoint }];

    /// <summary>Parses <paramref name="url"/>.</summary>
    /// <exception cref="FormatException">It is not a valid endpoint URL; the message says why.</exception>
    public static EndpointUrl Parse(string url)
    {
        if (url.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = url["unix:".Length..];
            if (!path.StartsWith('/'))
            {
                throw new FormatException("a unix socket URL is unix:/absolute/path");
            }

            try
            {
                return new(url, ListenAddress.Resolve(0, path, AddressFamily.Unix), null, false);
            }
            catch (ArgumentException ex)
            {
                // A path longer than the platform's sockaddr_un allows, for instance.
                throw new FormatException($"the socket path cannot be used: {ex.Message}", ex);
            }
        }

        if (url.StartsWith("fd://", StringComparison.OrdinalIgnoreCase))
        {
            var text = url["fd://".Length..];
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var handle))
            {
                throw new FormatException($"'{text}' is not a file descriptor number");
            }

            return new(url, [], handle, false);
        }

        // tcp:// and tls:// take the same host:port (TLS itself comes from the server's Ssl section).
        var isTls = url.StartsWith("tls://", StringComparison.OrdinalIgnoreCase);
        if (!isTls && !url.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase))
        {
            var scheme = url.Contains("://", StringComparison.Ordinal) ? url[..url.IndexOf("://", StringComparison.Ordinal)] : url.Split(':')[0];
            throw new FormatException($"the scheme '{scheme}' is not supported; use tcp://host:port, tls://host:port, unix:/path or fd://N");
        }

        var (host, portText) = SplitHostAndPort(url["tcp://".Length..].TrimEnd('/'));
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > IPEndPoint.MaxPort)
        {
            throw new FormatException($"'{portText}' is not a port number (0-65535)");
        }

        try
        {
            return new(url, ListenAddress.Resolve(port, host, AddressFamily.Unspecified, literalBindsItsFamily: true), null, isTls);
        }
        catch (ArgumentException)
        {
            throw new FormatException($"the host '{host}' must be *, localhost, an IPv4 address or [an IPv6 address]");
        }
    }

    public bool Equals(EndpointUrl? other) => other is not null && string.Equals(Text, other.Text, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as EndpointUrl);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Text);

    public override string ToString() => Text;

    /// <summary><c>host:port</c> or <c>[v6]:port</c>.</summary>
    private static (string Host, string Port) SplitHostAndPort(string rest)
    {
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= rest.Length || rest[close + 1] != ':')
            {
                throw new FormatException("an IPv6 host is written [address]:port");
            }

            return (rest[1..close], rest[(close + 2)..]);
        }

        var colon = rest.LastIndexOf(':');
        return colon < 0 ? throw new FormatException("the port is missing") : (rest[..colon], rest[(colon + 1)..]);
    }
}
