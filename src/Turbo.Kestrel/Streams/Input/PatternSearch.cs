using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;

namespace Turbo.Kestrel.Streams;

/// <summary>
/// Runs a regular expression over received bytes read as Latin-1 (one char per byte, so offsets are byte
/// offsets). The bytes of one pending read are decoded once each, into a pooled buffer that grows with them.
/// </summary>
/// <remarks>
/// A match may start anywhere, so the pattern runs over everything received so far. While that is at most
/// <see cref="ImmediateBytes"/>, it runs each time bytes arrive, so a match is found as soon as it is complete.
/// Beyond that it runs again only once the bytes grew by a quarter since its last run, or when the read must
/// decide: no more bytes are waiting (the peer may be waiting for a reply), the peer closed, or a limit would end
/// the read. The total work stays linear in the bytes received (Tornado makes the same trade: a doubling rule and a
/// final check before it waits).
/// </remarks>
internal sealed class PatternSearch : IDisposable
{
    /// <summary>Up to this many bytes, the pattern runs at every arrival.</summary>
    public const int ImmediateBytes = 64 * 1024;

    private readonly Regex _pattern;
    private char[] _chars;
    private int _decoded;
    private int _lastRun;

    public PatternSearch(Regex pattern)
    {
        if ((pattern.Options & RegexOptions.RightToLeft) != 0)
        {
            throw new ArgumentException("A RightToLeft pattern cannot be matched as bytes arrive.", nameof(pattern));
        }

        _pattern = pattern;
        _chars = ArrayPool<char>.Shared.Rent(256);
    }

    /// <summary>
    /// Returns the offset just past the first match in <paramref name="buffer"/>, or -1: no match, or the pattern was
    /// not run this time (<paramref name="ran"/> is false; <paramref name="mustDecide"/> forces a run).
    /// </summary>
    /// <remarks><paramref name="buffer"/> must start where it started on the previous call and only have grown.</remarks>
    public long FindMatchEnd(in ReadOnlySequence<byte> buffer, bool mustDecide, out bool ran)
    {
        var length = checked((int)buffer.Length);
        if (length > _chars.Length)
        {
            var larger = ArrayPool<char>.Shared.Rent(Math.Max(length, _chars.Length + (_chars.Length / 2)));
            _chars.AsSpan(0, _decoded).CopyTo(larger);
            ArrayPool<char>.Shared.Return(_chars);
            _chars = larger;
        }

        if (length > _decoded)
        {
            Encoding.Latin1.GetChars(buffer.Slice(_decoded), _chars.AsSpan(_decoded, length - _decoded));
            _decoded = length;
        }

        ran = mustDecide || length <= ImmediateBytes || length >= _lastRun + (_lastRun / 4);
        if (!ran)
        {
            return -1;
        }

        _lastRun = length;
        foreach (var match in _pattern.EnumerateMatches(_chars.AsSpan(0, length)))
        {
            return match.Index + match.Length;
        }

        return -1;
    }

    public void Dispose()
    {
        if (_chars.Length > 0)
        {
            ArrayPool<char>.Shared.Return(_chars);
            _chars = [];
        }
    }
}
