using System.Net;
using System.Net.Sockets;

namespace Turbo.Kestrel.Listening;

/// <summary>
/// One address a listener binds: an <see cref="IPEndPoint"/> (and whether an IPv6 socket also accepts IPv4) or a
/// <see cref="UnixDomainSocketEndPoint"/>.
/// </summary>
internal readonly record struct ListenAddress(EndPoint EndPoint, bool DualMode)
{
    /// <summary>
    /// Turns Turbo's <c>listen(port, address, backlog, family)</c> arguments into the addresses to bind:
    /// <c>null</c> or <c>*</c> is every interface (<c>0.0.0.0</c>, <c>[::]</c> IPv6-only, or <c>[::]</c> dual-stack for
    /// <see cref="AddressFamily.Unspecified"/>), <c>"localhost"</c> is the loopback address of each family, and an IP
    /// literal is itself. The one place where a host is read, for <c>Listen</c>, <c>Bind</c>, <c>SockUtil</c> and
    /// configuration URLs alike.
    /// </summary>
    /// <param name="port">The port.</param>
    /// <param name="address">The host, or with <see cref="AddressFamily.Unix"/> the socket's path.</param>
    /// <param name="family">The family asked for.</param>
    /// <param name="literalBindsItsFamily">An IP literal binds its own family only, as a configuration URL's does
    /// (<c>tcp://[::]:7000</c> is IPv6-only), instead of <c>[::]</c> being dual-stack as <c>Listen(port, "::")</c> is.</param>
    /// <exception cref="ArgumentException">The address is neither an IP literal nor <c>localhost</c>, or does not match the family.</exception>
    public static IReadOnlyList<ListenAddress> Resolve(int port, string? address, AddressFamily family, bool literalBindsItsFamily = false)
    {
        ValidateFamily(family);
        if (family == AddressFamily.Unix)
        {
            if (string.IsNullOrEmpty(address))
            {
                throw new ArgumentException("A unix domain socket needs a path as its address.", nameof(address));
            }

            return [new(new UnixDomainSocketEndPoint(address), false)];
        }

        ValidatePort(port);
        var dualMode = family == AddressFamily.Unspecified;
        if (string.IsNullOrEmpty(address) || address == "*")
        {
            return family == AddressFamily.InterNetwork
                ? [new(new IPEndPoint(IPAddress.Any, port), false)]
                : [new(new IPEndPoint(IPAddress.IPv6Any, port), dualMode)];
        }

        if (string.Equals(address, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return family switch
            {
                AddressFamily.InterNetwork => [new(new IPEndPoint(IPAddress.Loopback, port), false)],
                AddressFamily.InterNetworkV6 => [new(new IPEndPoint(IPAddress.IPv6Loopback, port), false)],
                _ => Socket.OSSupportsIPv6
                    ? [new(new IPEndPoint(IPAddress.Loopback, port), false), new(new IPEndPoint(IPAddress.IPv6Loopback, port), false)]
                    : [new(new IPEndPoint(IPAddress.Loopback, port), false)],
            };
        }

        if (!IPAddress.TryParse(address, out var ip))
        {
            throw new ArgumentException(
                $"Cannot listen on '{address}' port {port}: the address is neither an IP address nor 'localhost'.", nameof(address));
        }

        return [Of(new IPEndPoint(ip, port), literalBindsItsFamily ? ip.AddressFamily : family)];
    }

    /// <summary>The address for an <see cref="IPAddress"/>, checked against the requested family.</summary>
    public static ListenAddress Of(IPEndPoint endPoint, AddressFamily family)
    {
        ValidatePort(endPoint.Port);
        ValidateFamily(family);
        if (family == AddressFamily.Unix)
        {
            throw new ArgumentException($"Cannot listen on {endPoint} as a unix domain socket; give a path instead.", nameof(family));
        }

        if (family != AddressFamily.Unspecified && family != endPoint.AddressFamily)
        {
            throw new ArgumentException(
                $"Cannot listen on {endPoint}: the address is {endPoint.AddressFamily}, but family {family} was asked for.", nameof(family));
        }

        return new(endPoint, family == AddressFamily.Unspecified && endPoint.Address.Equals(IPAddress.IPv6Any));
    }

    /// <summary>Turbo's numeric address: an IPv4 address in host byte order, e.g. <c>0x7F000001</c>.</summary>
    public static IPAddress FromHostOrder(uint address) =>
        new([(byte)(address >> 24), (byte)(address >> 16), (byte)(address >> 8), (byte)address]);

    private static void ValidatePort(int port) =>
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)port, (uint)IPEndPoint.MaxPort, nameof(port));

    private static void ValidateFamily(AddressFamily family)
    {
        if (family is not (AddressFamily.Unspecified or AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 or AddressFamily.Unix))
        {
            throw new ArgumentOutOfRangeException(nameof(family), family, "Only Unspecified, InterNetwork, InterNetworkV6 and Unix are supported.");
        }
    }
}
