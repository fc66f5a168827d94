using System.Text.RegularExpressions;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary>
    /// Reads until <paramref name="pattern"/> matches and returns everything up to the end of the match
    /// (Turbo's <c>read_until_pattern</c>, Tornado's <c>read_until_regex</c>). The bytes are matched as Latin-1,
    /// one char per byte, so offsets are byte offsets; the pattern sees the bytes received so far, and is run
    /// again as more arrive: at every arrival for the first 64 KiB, then each time the bytes grew by a quarter and
    /// before the read fails, so the work stays linear. The match must end within <paramref name="maxBytes"/>; give
    /// one, because decoding holds two bytes of memory per byte received.
    /// </summary>
    /// <param name="pattern">The pattern; not right-to-left.</param>
    /// <param name="maxBytes">When the match does not end within this many bytes, the connection is closed and the read throws <see cref="UnsatisfiableReadException"/>.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>The bytes up to and including the match.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <exception cref="StreamClosedException">The stream closed before the pattern matched.</exception>
    /// <exception cref="UnsatisfiableReadException">The match did not end within <paramref name="maxBytes"/>.</exception>
    public ValueTask<byte[]> ReadUntilPatternAsync(Regex pattern, int? maxBytes = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ValidateMaxBytes(maxBytes);
        var search = new PatternSearch(pattern);
        try
        {
            _input.BeginRead();
        }
        catch
        {
            search.Dispose();
            throw;
        }

        return _input.Read<PatternRead, byte[]>(new PatternRead(search, maxBytes), cancellationToken);
    }
}
