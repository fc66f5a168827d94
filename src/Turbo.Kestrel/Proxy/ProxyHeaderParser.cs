using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Turbo.Kestrel.Proxy;

/// <summary>
/// Parses PROXY protocol v1 and v2 headers as HAProxy's specification states them, from however many bytes have
/// arrived: <see cref="ProxyParseStatus.Incomplete"/> until a decision is possible, never reading past the header,
/// never trusting a length without checking it. It decides nothing about trust: the caller allows a header only from
/// configured proxies.
/// </summary>
internal static class ProxyHeaderParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The v1 line may not be longer than this, CRLF included.</summary>
    public const int MaxV1Length = 107;

    private const int V2FixedLength = 16;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    /// <summary>Parses a header at the start of <paramref name="buffer"/>, accepting the versions allowed.</summary>
    public static ProxyParseStatus TryParse(in ReadOnlySequence<byte> buffer, bool allowV1, bool allowV2, out ProxyHeader? header, out string? error)
    {
        header = null;
        error = null;
        if (buffer.IsEmpty)
        {
            return ProxyParseStatus.Incomplete;
        }

        Span<byte> start = stackalloc byte[V2FixedLength];
        var available = (int)Math.Min(buffer.Length, V2FixedLength);
        buffer.Slice(0, available).CopyTo(start);
        var head = start[..available];

        if (allowV2 && StartsLike(head, V2Signature))
        {
            return available < V2FixedLength ? ProxyParseStatus.Incomplete : ParseV2(buffer, start, out header, out error);
        }

        if (allowV1 && StartsLike(head, V1Prefix))
        {
            return head.Length < V1Prefix.Length ? ProxyParseStatus.Incomplete : ParseV1(buffer, out header, out error);
        }

        error = allowV1 && allowV2 ? "neither a PROXY v1 line nor a v2 signature"
            : allowV2 ? "not a PROXY v2 signature" : "not a PROXY v1 line";
        return ProxyParseStatus.Invalid;
    }

    /// <summary>True when the bytes so far agree with <paramref name="expected"/> (all of it, or as much as there is).</summary>
    private static bool StartsLike(ReadOnlySpan<byte> head, ReadOnlySpan<byte> expected)
    {
        var length = Math.Min(head.Length, expected.Length);
        return length > 0 && head[..length].SequenceEqual(expected[..length]);
    }

    private static ProxyParseStatus ParseV2(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> fixedPart, out ProxyHeader? header, out string? error)
    {
        header = null;
        error = null;
        var versionCommand = fixedPart[12];
        if (versionCommand >> 4 != 2)
        {
            return Fail($"PROXY v2: version {versionCommand >> 4}, expected 2", out error);
        }

        var command = versionCommand & 0x0F;
        if (command > 1)
        {
            return Fail($"PROXY v2: unknown command {command}", out error);
        }

        var family = fixedPart[13] >> 4;
        var transport = fixedPart[13] & 0x0F;
        if (family > 3 || transport > 2)
        {
            return Fail($"PROXY v2: unknown address family {family} or transport {transport}", out error);
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(fixedPart[14..16]);
        if (buffer.Length < V2FixedLength + length)
        {
            return ProxyParseStatus.Incomplete;
        }

        var body = buffer.Slice(V2FixedLength, length).ToArray();
        var addressLength = family switch { 1 => 12, 2 => 36, 3 => 216, _ => 0 };
        var isLocal = command == 0;
        EndPoint? source = null;
        EndPoint? destination = null;

        // LOCAL (health checks) and UNSPEC use the connection's own addresses, whatever the block holds.
        if (!isLocal && family != 0)
        {
            if (body.Length < addressLength)
            {
                return Fail($"PROXY v2: {body.Length} bytes cannot hold the {addressLength}-byte address block", out error);
            }

            switch (family)
            {
                case 1:
                    (source, destination) = (Ip(body.AsSpan(0, 4), body.AsSpan(8, 2)), Ip(body.AsSpan(4, 4), body.AsSpan(10, 2)));
                    break;
                case 2:
                    (source, destination) = (Ip(body.AsSpan(0, 16), body.AsSpan(32, 2)), Ip(body.AsSpan(16, 16), body.AsSpan(34, 2)));
                    break;
                default:
                    if (!TryUnix(body.AsSpan(0, 108), out var sourcePath) || !TryUnix(body.AsSpan(108, 108), out var destinationPath))
                    {
                        return Fail("PROXY v2: a unix address is not a NUL-terminated UTF-8 path of at most 107 bytes", out error);
                    }

                    (source, destination) = (sourcePath, destinationPath);
                    break;
            }
        }

        var tlvs = new List<ProxyTlv>();
        var offset = isLocal || family == 0 ? body.Length : addressLength;
        while (offset < body.Length)
        {
            if (body.Length - offset < 3)
            {
                return Fail("PROXY v2: a TLV is cut short", out error);
            }

            var tlvLength = BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(offset + 1, 2));
            if (body.Length - offset - 3 < tlvLength)
            {
                return Fail($"PROXY v2: a TLV of {tlvLength} bytes runs past the header", out error);
            }

            tlvs.Add(new ProxyTlv(body[offset], body.AsSpan(offset + 3, tlvLength).ToArray()));
            offset += 3 + tlvLength;
        }

        header = new ProxyHeader(2, isLocal, source, destination, V2FixedLength + length, tlvs);
        return ProxyParseStatus.Parsed;
    }

    private static ProxyParseStatus ParseV1(in ReadOnlySequence<byte> buffer, out ProxyHeader? header, out string? error)
    {
        header = null;
        error = null;
        var length = (int)Math.Min(buffer.Length, MaxV1Length);
        Span<byte> line = stackalloc byte[MaxV1Length];
        buffer.Slice(0, length).CopyTo(line);
        var end = line[..length].IndexOf("\r\n"u8);
        var strayLineFeed = line[..length].IndexOf((byte)'\n');
        if (strayLineFeed >= 0 && strayLineFeed != end + 1)
        {
            return Fail("PROXY v1: a line feed without carriage return", out error);
        }

        if (end < 0)
        {
            return length >= MaxV1Length
                ? Fail($"PROXY v1: no CRLF within {MaxV1Length} bytes", out error)
                : ProxyParseStatus.Incomplete;
        }

        var text = Encoding.ASCII.GetString(line[V1Prefix.Length..end]);
        var fields = text.Split(' ');
        if (fields[0] == "UNKNOWN")
        {
            header = new ProxyHeader(1, false, null, null, end + 2, []);
            return ProxyParseStatus.Parsed;
        }

        if (fields.Length != 5 || fields[0] is not ("TCP4" or "TCP6"))
        {
            return Fail("PROXY v1: expected 'TCP4|TCP6 source destination sourcePort destinationPort'", out error);
        }

        var family = fields[0] == "TCP4" ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
        if (!TryAddress(fields[1], family, out var source) || !TryAddress(fields[2], family, out var destination)
            || !TryPort(fields[3], out var sourcePort) || !TryPort(fields[4], out var destinationPort))
        {
            return Fail($"PROXY v1: bad address or port in '{text}'", out error);
        }

        header = new ProxyHeader(1, false, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort), end + 2, []);
        return ProxyParseStatus.Parsed;
    }

    private static bool TryAddress(string text, AddressFamily family, out IPAddress address)
    {
        address = IPAddress.None;
        if (family == AddressFamily.InterNetwork)
        {
            // Dotted quad, no leading zeros: IPAddress.TryParse would also take "1", "0x7f.1" or "001.2.3.4".
            var octets = text.Split('.');
            if (octets.Length != 4 || octets.Any(o => !IsCanonicalNumber(o, 255)))
            {
                return false;
            }
        }

        return IPAddress.TryParse(text, out address!) && address.AddressFamily == family && !text.Contains('%', StringComparison.Ordinal);
    }

    private static bool TryPort(string text, out int port)
    {
        port = 0;
        return IsCanonicalNumber(text, 65535) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port);
    }

    private static bool IsCanonicalNumber(string text, int max) =>
        text.Length is > 0 and <= 5 && text.All(char.IsAsciiDigit) && (text.Length == 1 || text[0] != '0')
        && int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture) <= max;

    private static IPEndPoint Ip(ReadOnlySpan<byte> address, ReadOnlySpan<byte> port) =>
        new(new IPAddress(address), BinaryPrimitives.ReadUInt16BigEndian(port));

    /// <summary>
    /// Reads a 108-byte unix address: a UTF-8 path ended by NUL (null when empty, as for an unbound client or an
    /// abstract socket). False when there is no NUL or the bytes are not UTF-8 (found by fuzzing: .NET cannot hold
    /// such a path, and its constructor throws).
    /// </summary>
    private static bool TryUnix(ReadOnlySpan<byte> path, out UnixDomainSocketEndPoint? endPoint)
    {
        endPoint = null;
        var end = path.IndexOf((byte)0);
        if (end < 0)
        {
            return false;
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(path[..end]);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        if (text.Length > 0)
        {
            endPoint = new UnixDomainSocketEndPoint(text);
        }

        return true;
    }

    private static ProxyParseStatus Fail(string message, out string? error)
    {
        error = message;
        return ProxyParseStatus.Invalid;
    }
}
