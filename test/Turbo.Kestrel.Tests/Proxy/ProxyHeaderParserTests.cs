using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CsCheck;
using Turbo.Kestrel.Proxy;
using Turbo.Kestrel.Tests.Streams;

namespace Turbo.Kestrel.Tests.Proxy;

/// <summary>The PROXY protocol parser against HAProxy's proxy-protocol.txt, clause by clause.</summary>
public class ProxyHeaderParserTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    [Fact]
    public void V1_Tcp4_GivesTheClientAndTheLengthOfTheLine()
    {
        var line = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";

        var header = Parsed(line + "GET / HTTP/1.1\r\n");

        Assert.Equal(1, header.Version);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.168.0.1"), 56324), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.168.0.11"), 443), header.Destination);
        Assert.Equal(line.Length, header.Length);
    }

    [Fact]
    public void V1_Tcp6_Parses()
    {
        var header = Parsed("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");

        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 65535), header.Source);
    }

    [Theory]
    [InlineData("PROXY UNKNOWN\r\n")]
    [InlineData("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")]
    public void V1_Unknown_UsesTheConnectionsOwnAddresses(string line)
    {
        var header = Parsed(line);

        Assert.Null(header.Source);
        Assert.Equal(line.Length, header.Length);
    }

    [Theory]
    [InlineData("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n")]
    [InlineData("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n")]
    [InlineData("PROXY TCP4 ::1 5.6.7.8 1 2\r\n")]
    [InlineData("PROXY TCP6 1.2.3.4 ::1 1 2\r\n")]
    [InlineData("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")]
    [InlineData("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r 3\r\n")]
    [InlineData("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n")]
    [InlineData("GET / HTTP/1.1\r\n")]
    [InlineData("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n")]
    public void V1_Malformed_IsInvalid(string line) =>
        Assert.Equal(ProxyParseStatus.Invalid, Parse(Encoding.ASCII.GetBytes(line), out _));

    [Fact]
    public void V1_NoCrlfWithin107Bytes_IsInvalid_AndShorterIsIncomplete()
    {
        var longLine = "PROXY TCP6 " + new string('f', 200);

        Assert.Equal(ProxyParseStatus.Invalid, Parse(Encoding.ASCII.GetBytes(longLine), out var error));
        Assert.Contains("107", error, StringComparison.Ordinal);
        Assert.Equal(ProxyParseStatus.Incomplete, Parse(Encoding.ASCII.GetBytes(longLine[..106]), out _));
    }

    [Fact]
    public void V1_EveryPrefixOfAValidLine_IsIncomplete()
    {
        var line = Encoding.ASCII.GetBytes("PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\n");
        for (var length = 0; length < line.Length; length++)
        {
            Assert.Equal(ProxyParseStatus.Incomplete, Parse(line[..length], out _));
        }
    }

    [Fact]
    public void V2_ProxyInet_GivesAddressesAndTlvs()
    {
        byte[] addresses = [10, 0, 0, 1, 10, 0, 0, 2, 0x1F, 0x90, 0x00, 0x50];
        byte[] tlvs = [0x05, 0x00, 0x03, (byte)'a', (byte)'b', (byte)'c', 0xE0, 0x00, 0x00];
        var bytes = V2(0x21, 0x11, [.. addresses, .. tlvs]);

        var header = Parsed(bytes.Concat("payload"u8.ToArray()).ToArray());

        Assert.Equal(2, header.Version);
        Assert.False(header.IsLocal);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.1"), 8080), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 80), header.Destination);
        Assert.Equal(bytes.Length, header.Length);
        Assert.Equal([(byte)0x05, (byte)0xE0], header.Tlvs.Select(t => t.Type));
        Assert.Equal("abc"u8.ToArray(), header.Tlvs[0].Value);
    }

    [Fact]
    public void V2_ProxyInet6AndUnix_Parse()
    {
        var six = new byte[36];
        IPAddress.Parse("2001:db8::7").GetAddressBytes().CopyTo(six, 0);
        IPAddress.IPv6Loopback.GetAddressBytes().CopyTo(six, 16);
        six[32] = 0x01;
        six[35] = 0x02;
        var unix = new byte[216];
        Encoding.ASCII.GetBytes("/run/client.sock").CopyTo(unix, 0);
        Encoding.ASCII.GetBytes("/run/server.sock").CopyTo(unix, 108);

        var v6 = Parsed(V2(0x21, 0x21, six));
        var local = Parsed(V2(0x21, 0x31, unix));

        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 256), v6.Source);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 2), v6.Destination);
        Assert.Equal("/run/client.sock", Assert.IsType<UnixDomainSocketEndPoint>(local.Source).ToString());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(12)]
    public void V2_Local_IsAcceptedAndItsBytesSkipped(int extra)
    {
        var bytes = V2(0x20, 0x00, new byte[extra]);

        var header = Parsed(bytes);

        Assert.True(header.IsLocal);
        Assert.Null(header.Source);
        Assert.Equal(16 + extra, header.Length);
    }

    [Theory]
    [InlineData(0x11, 0x11, 12, "version")]
    [InlineData(0x31, 0x11, 12, "version")]
    [InlineData(0x22, 0x11, 12, "command")]
    [InlineData(0x21, 0x41, 12, "family")]
    [InlineData(0x21, 0x13, 12, "transport")]
    [InlineData(0x21, 0x11, 11, "address block")]
    [InlineData(0x21, 0x21, 35, "address block")]
    public void V2_BadFields_AreInvalid(byte versionCommand, byte familyTransport, int length, string reason)
    {
        Assert.Equal(ProxyParseStatus.Invalid, Parse(V2(versionCommand, familyTransport, new byte[length]), out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    /// <summary>
    /// Fuzzing regression (fuzz/findings/proxy/crash-048b61a038bed652): a unix path filling all 108 bytes with no NUL,
    /// or bytes that are not UTF-8, made UnixDomainSocketEndPoint throw out of the parser.
    /// </summary>
    [Theory]
    [InlineData("unterminated")]
    [InlineData("not-utf8")]
    public void V2_UnixPathThatCannotBeAPath_IsInvalid_NotAnException(string kind)
    {
        var body = new byte[216];
        if (kind == "unterminated")
        {
            Array.Fill(body, (byte)'0', 0, 108);
        }
        else
        {
            Encoding.ASCII.GetBytes("/tmp/src.sock").CopyTo(body, 0);
            byte[] invalid = [(byte)'/', 0xF5, 0xF5, 0xF5, (byte)'.', (byte)'s'];
            invalid.CopyTo(body, 108);
        }

        Assert.Equal(ProxyParseStatus.Invalid, Parse(V2(0x21, 0x31, body), out var error));
        Assert.Contains("unix address", error, StringComparison.Ordinal);
    }

    [Fact]
    public void V2_UnixPathOf107BytesAndAnAbstractSocket_Parse()
    {
        var body = new byte[216];
        var longest = "/" + new string('p', 106);
        Encoding.ASCII.GetBytes(longest).CopyTo(body, 0);
        body[109] = (byte)'x'; // an abstract socket: the path starts with NUL

        var header = Parsed(V2(0x21, 0x31, body));

        Assert.Equal(longest, Assert.IsType<UnixDomainSocketEndPoint>(header.Source).ToString());
        Assert.Null(header.Destination);
    }

    [Fact]
    public void V2_TlvRunningPastTheHeader_IsInvalid()
    {
        byte[] addresses = new byte[12];

        Assert.Equal(ProxyParseStatus.Invalid, Parse(V2(0x21, 0x11, [.. addresses, 0x05, 0x00, 0x09, 1, 2]), out _));
        Assert.Equal(ProxyParseStatus.Invalid, Parse(V2(0x21, 0x11, [.. addresses, 0x05, 0x00]), out _));
    }

    [Fact]
    public void V2_EveryPrefix_IsIncomplete()
    {
        var bytes = V2(0x21, 0x11, [.. new byte[12], 0x04, 0x00, 0x01, 0x00]);
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Equal(ProxyParseStatus.Incomplete, Parse(bytes[..length], out _));
        }
    }

    [Fact]
    public void OnlyTheAllowedVersionIsAccepted()
    {
        var v1 = Encoding.ASCII.GetBytes("PROXY UNKNOWN\r\n");
        var v2 = V2(0x20, 0x00, []);

        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(v1), allowV1: false, allowV2: true, out _, out _));
        Assert.Equal(ProxyParseStatus.Invalid, ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(v2), allowV1: true, allowV2: false, out _, out _));
    }

    [Fact]
    public void AnyBytesInAnySegmentation_NeverThrowAndNeverReadPastTheBuffer() =>
        Gen.Select(Gen.Int[0, 3], Gen.Byte.Array[0, 300], Gen.Int[1, 40]).Sample((prefix, tail, cut) =>
        {
            byte[] start = prefix switch
            {
                0 => [],
                1 => Signature,
                2 => [.. Signature, 0x21, 0x11, 0x00, (byte)(tail.Length % 64)],
                _ => "PROXY "u8.ToArray(),
            };
            var bytes = start.Concat(tail).ToArray();
            var flat = Parse(bytes, out _);
            var pieces = Enumerable.Range(0, (bytes.Length + cut - 1) / cut)
                .Select(i => Encoding.Latin1.GetString(bytes, i * cut, Math.Min(cut, bytes.Length - (i * cut)))).ToArray();
            var segmented = ProxyHeaderParser.TryParse(DelimiterSearchTests.Segments(pieces), true, true, out var header, out _);

            Assert.Equal(flat, segmented);
            Assert.True(header is null || header.Length <= bytes.Length);
        }, iter: 2000);

    private static byte[] V2(byte versionCommand, byte familyTransport, byte[] body) =>
        [.. Signature, versionCommand, familyTransport, (byte)(body.Length >> 8), (byte)body.Length, .. body];

    private static ProxyHeader Parsed(string text) => Parsed(Encoding.ASCII.GetBytes(text));

    private static ProxyHeader Parsed(byte[] bytes)
    {
        Assert.Equal(ProxyParseStatus.Parsed, ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(bytes), true, true, out var header, out var error));
        Assert.Null(error);
        return header!;
    }

    private static ProxyParseStatus Parse(byte[] bytes, out string? error) =>
        ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(bytes), true, true, out _, out error);
}
