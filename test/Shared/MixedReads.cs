using System.Text.RegularExpressions;

namespace Turbo.Kestrel.Testing;

/// <summary>Every kind of read, picked by number: for tests that reassemble a payload from a mix of them.</summary>
internal static class MixedReads
{
    /// <summary>How many kinds <see cref="ReadOnceAsync"/> knows.</summary>
    public const int Kinds = 5;

    /// <summary>The pattern kind 3 reads until.</summary>
    public static readonly Regex BlankLine = new("b\r?\nb", RegexOptions.CultureInvariant);

    /// <summary>One read of the given kind; streaming reads write straight into <paramref name="sink"/>.</summary>
    public static async Task<byte[]> ReadOnceAsync(IOStream stream, int kind, Stream sink)
    {
        switch (kind)
        {
            case 0:
                return await stream.ReadUntilAsync("\r\n");
            case 1:
                return await stream.ReadBytesAsync(37);
            case 2:
                return await stream.ReadBytesAsync(500, partial: true);
            case 3:
                return await stream.ReadUntilPatternAsync(BlankLine);
            default:
                await stream.ReadBytesAsync(23, chunk =>
                {
                    sink.Write(chunk.Span);
                    return ValueTask.CompletedTask;
                });
                return [];
        }
    }
}
