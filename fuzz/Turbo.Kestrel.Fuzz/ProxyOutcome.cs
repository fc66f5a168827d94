using System.Buffers;
using System.Net;
using System.Text;
using Turbo.Kestrel.Proxy;

namespace Turbo.Kestrel.Fuzz;

/// <summary>
/// What one <see cref="ProxyHeaderParser.TryParse"/> call returned, compared by value (the header's endpoints by type
/// and text, its TLVs byte by byte), so that two parses of the same bytes can be checked for agreement.
/// </summary>
/// <param name="Status">The status returned.</param>
/// <param name="Header">The header, when parsed.</param>
/// <param name="Error">The error, when invalid.</param>
internal sealed record ProxyOutcome(ProxyParseStatus Status, ProxyHeader? Header, string? Error)
{
    /// <summary>Parses <paramref name="buffer"/> with the versions allowed.</summary>
    /// <param name="buffer">The bytes so far.</param>
    /// <param name="allowV1">Whether v1 is allowed.</param>
    /// <param name="allowV2">Whether v2 is allowed.</param>
    /// <returns>What the parser said.</returns>
    public static ProxyOutcome Parse(in ReadOnlySequence<byte> buffer, bool allowV1, bool allowV2)
    {
        var status = ProxyHeaderParser.TryParse(buffer, allowV1, allowV2, out var header, out var error);
        return new ProxyOutcome(status, header, error);
    }

    /// <summary>Whether both have the same status and header; with <paramref name="compareError"/>, the same error too.</summary>
    /// <param name="other">The other outcome.</param>
    /// <param name="compareError">Whether the error texts must match as well.</param>
    /// <returns>True when they agree.</returns>
    public bool SameAs(ProxyOutcome other, bool compareError) =>
        Status == other.Status
        && Describe(Header) == Describe(other.Header)
        && (!compareError || Error == other.Error);

    /// <inheritdoc/>
    public override string ToString() => $"{Status} {Describe(Header)} {Error}";

    private static string Describe(ProxyHeader? header)
    {
        if (header is null)
        {
            return "(no header)";
        }

        var text = new StringBuilder();
        text.Append('v').Append(header.Version)
            .Append(header.IsLocal ? " LOCAL" : " PROXY")
            .Append(" src=").Append(Describe(header.Source))
            .Append(" dst=").Append(Describe(header.Destination))
            .Append(" len=").Append(header.Length);
        foreach (var tlv in header.Tlvs)
        {
            text.Append(" tlv ").Append(tlv.Type).Append(':').Append(Convert.ToHexString(tlv.Value));
        }

        return text.ToString();
    }

    private static string Describe(EndPoint? endPoint) =>
        endPoint is null ? "null" : $"{endPoint.GetType().Name}({endPoint})";
}
