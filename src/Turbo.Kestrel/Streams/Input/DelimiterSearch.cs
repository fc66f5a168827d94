using System.Buffers;

namespace Turbo.Kestrel.Streams;

/// <summary>
/// Finds a byte delimiter in a <see cref="ReadOnlySequence{T}"/> without copying it: a vectorised
/// <see cref="MemoryExtensions.IndexOf{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/> inside each segment, plus a
/// check of the few positions where a match can straddle a segment boundary.
/// </summary>
internal static class DelimiterSearch
{
    /// <summary>
    /// Returns the offset of the first occurrence of <paramref name="delimiter"/> in <paramref name="buffer"/> at or
    /// after <paramref name="cursor"/>, or -1 and moves the cursor to where the next search must start (the last
    /// <c>delimiter.Length - 1</c> bytes, which a later match may begin in). <paramref name="buffer"/> must start where
    /// it started on the previous call and only have grown.
    /// </summary>
    public static long IndexOf(in ReadOnlySequence<byte> buffer, ref SearchCursor cursor, ReadOnlySpan<byte> delimiter)
    {
        var from = cursor.IsSet ? buffer.Slice(cursor.Position) : buffer;
        var offset = cursor.IsSet ? cursor.Offset : 0;
        var found = IndexOf(from, 0, delimiter);
        if (found >= 0)
        {
            return offset + found;
        }

        var next = Math.Max(offset, buffer.Length - delimiter.Length + 1);
        if (next > 0)
        {
            // Never at offset 0: the buffer's start may be the end of a segment the pipe releases once it is
            // advanced past, while any later position stays inside the unconsumed bytes.
            cursor.Position = from.GetPosition(next - offset);
            cursor.Offset = next;
            cursor.IsSet = true;
        }

        return -1;
    }

    /// <summary>
    /// Returns the offset of the first occurrence of <paramref name="delimiter"/> that starts at or after
    /// <paramref name="start"/>, or -1.
    /// </summary>
    public static long IndexOf(in ReadOnlySequence<byte> buffer, long start, ReadOnlySpan<byte> delimiter)
    {
        if (buffer.IsSingleSegment)
        {
            var span = buffer.FirstSpan;
            if (start >= span.Length)
            {
                return -1;
            }

            var found = span[(int)start..].IndexOf(delimiter);
            return found < 0 ? -1 : start + found;
        }

        return IndexOfMultiSegment(buffer, start, delimiter);
    }

    private static long IndexOfMultiSegment(in ReadOnlySequence<byte> buffer, long start, ReadOnlySpan<byte> delimiter)
    {
        long segmentOffset = 0;
        var position = buffer.Start;
        var segmentStart = position;
        while (buffer.TryGet(ref position, out var memory))
        {
            var span = memory.Span;
            var segmentEnd = segmentOffset + span.Length;
            if (segmentEnd > start)
            {
                var from = (int)Math.Max(0, start - segmentOffset);

                var found = span[from..].IndexOf(delimiter);
                if (found >= 0)
                {
                    return segmentOffset + from + found;
                }

                // A match may begin in the last (length - 1) bytes of this segment and end in a later one.
                var straddleFrom = Math.Max(from, span.Length - delimiter.Length + 1);
                for (var i = straddleFrom; i < span.Length; i++)
                {
                    if (span[i] == delimiter[0] && StartsWith(buffer.Slice(buffer.GetPosition(i, segmentStart)), delimiter))
                    {
                        return segmentOffset + i;
                    }
                }
            }

            segmentOffset = segmentEnd;
            segmentStart = position;
        }

        return -1;
    }

    private static bool StartsWith(in ReadOnlySequence<byte> tail, ReadOnlySpan<byte> delimiter)
        => new SequenceReader<byte>(tail).IsNext(delimiter);
}
