using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;

namespace Turbo.Kestrel.Streams;

/// <summary>
/// Runs a regular expression over received bytes read as Latin-1 (one char per byte, so offsets are byte
/// offsets). The bytes of one pending read are decoded once each, into a pooled buffer that grows with them;
/// each time more bytes arrive, the pattern is run again over everything received so far, because a match may
/// start anywhere. That work is bounded by <c>maxBytes</c> and <c>MaxBufferSize</c>.
/// </summary>
internal sealed class PatternSearch : IDisposable
{
    private readonly Regex _pattern;
    private char[] _chars;
    private int _decoded;

    public PatternSearch(Regex pattern)
    {
        if ((pattern.Options & RegexOptions.RightToLeft) != 0)
        {
            throw new ArgumentException("A RightToLeft pattern cannot be matched as bytes arrive.", nameof(pattern));
        }

        _pattern = pattern;
        _chars = ArrayPool<char>.Shared.Rent(256);
    }

    /// <summary>Returns the offset just past the first match in <paramref name="buffer"/>, or -1.</summary>
    /// <remarks><paramref name="buffer"/> must start where it started on the previous call and only have grown.</remarks>
    public long FindMatchEnd(in ReadOnlySequence<byte> buffer)
    {
        var length = checked((int)buffer.Length);
        if (length > _chars.Length)
        {
            var larger = ArrayPool<char>.Shared.Rent(Math.Max(length, _chars.Length * 2));
            _chars.AsSpan(0, _decoded).CopyTo(larger);
            ArrayPool<char>.Shared.Return(_chars);
            _chars = larger;
        }

        if (length > _decoded)
        {
            Encoding.Latin1.GetChars(buffer.Slice(_decoded), _chars.AsSpan(_decoded, length - _decoded));
            _decoded = length;
        }

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
