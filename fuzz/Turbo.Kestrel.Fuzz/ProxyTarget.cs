using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Turbo.Kestrel.Proxy;

namespace Turbo.Kestrel.Fuzz;

/// <summary>
/// Fuzzes <see cref="ProxyHeaderParser.TryParse"/>. Input: one control byte, then the bytes a proxy sent. The control
/// byte's low two bits choose the versions allowed for most checks (0 or 3: both, 1: v1 only, 2: v2 only), its other
/// bits seed the segmentation. Any exception escapes: the parser documents none.
/// </summary>
internal static class ProxyTarget
{
    private const int MaxPrefixSteps = 512;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>Runs every check on one input; throws <see cref="InvariantViolationException"/> when one fails.</summary>
    /// <param name="input">The fuzzer's bytes.</param>
    public static void Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }

        var control = input[0];
        var payload = input.AsMemory(1);
        var (allowV1, allowV2) = (control & 3) switch
        {
            1 => (true, false),
            2 => (false, true),
            _ => (true, true),
        };

        var reference = ProxyOutcome.Parse(new ReadOnlySequence<byte>(payload), allowV1, allowV2);
        CheckShape(reference, payload.Span, allowV1, allowV2);
        CheckSegmentations(reference, payload, (uint)(control >> 2), allowV1, allowV2);
        CheckPrefixes(reference, payload, allowV1, allowV2);
        CheckVersionsAllowed(payload);
    }

    /// <summary>The outcome is consistent in itself and with the bytes it came from.</summary>
    private static void CheckShape(ProxyOutcome outcome, ReadOnlySpan<byte> payload, bool allowV1, bool allowV2)
    {
        var header = outcome.Header;
        switch (outcome.Status)
        {
            case ProxyParseStatus.Incomplete:
                InvariantViolationException.Check(header is null && outcome.Error is null, () => $"Incomplete with a header or an error: {outcome}");
                return;
            case ProxyParseStatus.Invalid:
                InvariantViolationException.Check(header is null && !string.IsNullOrEmpty(outcome.Error), () => $"Invalid without an error or with a header: {outcome}");
                InvariantViolationException.Check(!payload.IsEmpty, () => "Invalid on no bytes at all");
                return;
            case ProxyParseStatus.Parsed:
                break;
            default:
                throw new InvariantViolationException($"unknown status {outcome.Status}");
        }

        InvariantViolationException.Check(header is not null && outcome.Error is null, () => $"Parsed without a header or with an error: {outcome}");
        var length = header!.Length;
        var available = payload.Length;
        InvariantViolationException.Check(length > 0 && length <= available, () => $"header length {length} outside 1..{available}");
        // IP addresses come in pairs of one family; a unix address may be missing on one side (an unbound client socket).
        InvariantViolationException.Check(
            header.Source is IPEndPoint source ? header.Destination is IPEndPoint destination && source.AddressFamily == destination.AddressFamily
                : header.Destination is not IPEndPoint,
            () => $"IP endpoints not in a pair of one family: {outcome}");
        if (header.Version == 1)
        {
            InvariantViolationException.Check(allowV1, () => "a v1 header while v1 is not allowed");
            InvariantViolationException.Check(payload.StartsWith("PROXY "u8), () => "a v1 header not starting with 'PROXY '");
            InvariantViolationException.Check(length <= ProxyHeaderParser.MaxV1Length, () => $"a v1 header of {length} bytes");
            InvariantViolationException.Check(payload[..length].EndsWith("\r\n"u8) && payload[..(length - 1)].IndexOf((byte)'\n') < 0, () => "a v1 header not ending at its first CRLF");
            InvariantViolationException.Check(!header.IsLocal && header.Tlvs.Count == 0, () => $"a v1 header with LOCAL or TLVs: {outcome}");
        }
        else if (header.Version == 2)
        {
            InvariantViolationException.Check(allowV2, () => "a v2 header while v2 is not allowed");
            InvariantViolationException.Check(payload.StartsWith(V2Signature), () => "a v2 header without the signature");
            var declared = 16 + BinaryPrimitives.ReadUInt16BigEndian(payload[14..16]);
            InvariantViolationException.Check(length == declared, () => $"a v2 header of {length} bytes, declared {declared}");
            var tlvBytes = header.Tlvs.Sum(t => 3 + t.Value.Length);
            InvariantViolationException.Check(tlvBytes <= length - 16, () => $"TLVs of {tlvBytes} bytes in a {length - 16}-byte block");
            InvariantViolationException.Check(!header.IsLocal || header.Source is null, () => $"LOCAL with addresses: {outcome}");
        }
        else
        {
            throw new InvariantViolationException($"version {header.Version}");
        }
    }

    /// <summary>However the bytes are split into segments, the parser says exactly the same.</summary>
    private static void CheckSegmentations(ProxyOutcome reference, ReadOnlyMemory<byte> payload, uint seed, bool allowV1, bool allowV2)
    {
        void Same(List<ReadOnlyMemory<byte>> chunks, string how)
        {
            var outcome = ProxyOutcome.Parse(Segmenter.Build(chunks), allowV1, allowV2);
            InvariantViolationException.Check(outcome.SameAs(reference, compareError: true),
                () => $"{how} ({chunks.Count} segments: {string.Join(',', chunks.Select(c => c.Length))}) gave {outcome}, one segment gave {reference}");
        }

        Same(Segmenter.Fixed(payload, 1), "one byte per segment");
        Same(Segmenter.Split(payload, seed, 1 + (int)(seed % 23), allowEmpty: false), "seeded split");
        Same(Segmenter.Split(payload, seed ^ 0x55u, 4, allowEmpty: true), "seeded split with empty segments");
        if (payload.Length <= 128)
        {
            for (var cut = 1; cut < payload.Length; cut++)
            {
                Same([payload[..cut], payload[cut..]], $"two segments cut at {cut}");
            }
        }
    }

    /// <summary>
    /// As bytes arrive (as the middleware sees them) the parser says Incomplete until it can decide, and decides what it
    /// decides on all the bytes; a header is parsed exactly when its last byte arrives, never later.
    /// </summary>
    private static void CheckPrefixes(ProxyOutcome reference, ReadOnlyMemory<byte> payload, bool allowV1, bool allowV2)
    {
        var step = Math.Max(1, payload.Length / MaxPrefixSteps);
        for (var length = 0; ; length = Math.Min(length + step, payload.Length))
        {
            var outcome = ProxyOutcome.Parse(new ReadOnlySequence<byte>(payload[..length]), allowV1, allowV2);
            if (outcome.Status == ProxyParseStatus.Incomplete)
            {
                InvariantViolationException.Check(reference.Status != ProxyParseStatus.Parsed || length < reference.Header!.Length,
                    () => $"Incomplete with all {reference.Header!.Length} bytes of the header there (prefix of {length})");
                if (length == payload.Length)
                {
                    break;
                }

                continue;
            }

            InvariantViolationException.Check(outcome.SameAs(reference, compareError: true),
                () => $"the first {length} bytes gave {outcome}, all {payload.Length} gave {reference}");
            InvariantViolationException.Check(reference.Status != ProxyParseStatus.Parsed || step > 1 || length == reference.Header!.Length,
                () => $"parsed after {length} bytes, the header has {reference.Header!.Length}");
            return;
        }

        InvariantViolationException.Check(reference.Status == ProxyParseStatus.Incomplete, () => "no decision on any prefix, including all the bytes");
    }

    /// <summary>Allowing one version only changes nothing for that version and rejects the other.</summary>
    private static void CheckVersionsAllowed(ReadOnlyMemory<byte> payload)
    {
        var buffer = new ReadOnlySequence<byte>(payload);
        var both = ProxyOutcome.Parse(buffer, allowV1: true, allowV2: true);
        CheckShape(both, payload.Span, allowV1: true, allowV2: true);
        foreach (var v1 in new[] { true, false })
        {
            var only = ProxyOutcome.Parse(buffer, allowV1: v1, allowV2: !v1);
            var expected = payload.IsEmpty ? ProxyParseStatus.Incomplete
                : payload.Span[0] == (v1 ? (byte)'P' : (byte)0x0D) ? both.Status
                : ProxyParseStatus.Invalid;
            InvariantViolationException.Check(only.Status == expected && (expected != both.Status || only.SameAs(both, compareError: false)),
                () => $"{(v1 ? "v1" : "v2")} only gave {only}, both gave {both}");
        }
    }
}
