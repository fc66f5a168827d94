using System.Buffers;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel.Fuzz;

/// <summary>
/// Fuzzes <see cref="DelimiterSearch"/> against <see cref="MemoryExtensions.IndexOf{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/>
/// on the flattened bytes. Input layout:
/// <list type="bullet">
/// <item>byte 0: bits 0-3 the delimiter length minus one (1..16); bits 4-6 the largest segment (1, 2, 3, the delimiter
/// length, one more, twice it, 16, 64); bit 7 allows empty segments;</item>
/// <item>byte 1: bit 0 makes the buffer's start move to the next segment when a read ends on a segment's end (as a
/// pipe does once it releases a segment); all its bits seed the cut points;</item>
/// <item>then the delimiter, then the haystack.</item>
/// </list>
/// </summary>
internal static class DelimiterTarget
{
    private const int AllStartsUpTo = 256;

    /// <summary>Runs every check on one input; throws <see cref="InvariantViolationException"/> when one fails.</summary>
    /// <param name="input">The fuzzer's bytes.</param>
    public static void Run(byte[] input)
    {
        if (input.Length < 2)
        {
            return;
        }

        var delimiterLength = 1 + (input[0] & 0x0F);
        if (input.Length < 2 + delimiterLength)
        {
            return;
        }

        var maxChunk = ((input[0] >> 4) & 7) switch
        {
            0 => 1,
            1 => 2,
            2 => 3,
            3 => delimiterLength,
            4 => delimiterLength + 1,
            5 => 2 * delimiterLength,
            6 => 16,
            _ => 64,
        };
        var allowEmpty = (input[0] & 0x80) != 0;
        var normalizeStart = (input[1] & 1) != 0;
        var delimiter = input.AsMemory(2, delimiterLength);
        var haystack = input.AsMemory(2 + delimiterLength);
        var chunks = Segmenter.Split(haystack, input[1], maxChunk, allowEmpty);

        CheckFromStart(haystack.Span, Segmenter.Build(chunks), delimiter.Span, input[1]);
        CheckIncremental(haystack.Span, chunks, delimiter.Span, normalizeStart);
    }

    /// <summary>The naive answer: the first match at or after <paramref name="start"/>, or -1.</summary>
    private static long Naive(ReadOnlySpan<byte> haystack, long start, ReadOnlySpan<byte> delimiter)
    {
        if (start > haystack.Length)
        {
            return -1;
        }

        var found = haystack[(int)start..].IndexOf(delimiter);
        return found < 0 ? -1 : start + found;
    }

    /// <summary>The stateless search, over one segment and over many, agrees with the naive one from any start.</summary>
    private static void CheckFromStart(ReadOnlySpan<byte> haystack, ReadOnlySequence<byte> segmented, ReadOnlySpan<byte> delimiter, byte seed)
    {
        var single = new ReadOnlySequence<byte>(haystack.ToArray());
        var starts = haystack.Length <= AllStartsUpTo
            ? Enumerable.Range(0, haystack.Length + 1).Select(i => (long)i)
            : [0, seed % (haystack.Length + 1L), haystack.Length / 2, haystack.Length - 1, haystack.Length];
        foreach (var start in starts)
        {
            var expected = Naive(haystack, start, delimiter);
            var one = DelimiterSearch.IndexOf(single, start, delimiter);
            var many = DelimiterSearch.IndexOf(segmented, start, delimiter);
            InvariantViolationException.Check(one == expected && many == expected,
                () => $"from {start}: naive {expected}, one segment {one}, {segmented.Length} bytes in segments {many}");
        }
    }

    /// <summary>
    /// Reads delimiter after delimiter as IOStream does while segments arrive one by one: each read keeps a
    /// <see cref="SearchCursor"/> over a buffer that starts where the previous read ended and only grows; a match must be
    /// the naive one and be found as soon as its last byte has arrived.
    /// </summary>
    private static void CheckIncremental(ReadOnlySpan<byte> haystack, List<ReadOnlyMemory<byte>> chunks, ReadOnlySpan<byte> delimiter, bool normalizeStart)
    {
        var expectedEnds = new List<long>();
        for (long at = 0; (at = Naive(haystack, at, delimiter)) >= 0;)
        {
            at += delimiter.Length;
            expectedEnds.Add(at);
        }

        if (chunks.Count == 0)
        {
            InvariantViolationException.Check(expectedEnds.Count == 0, () => "a match in no bytes");
            return;
        }

        var first = new ByteSegment(chunks[0], 0);
        var last = first;
        var start = new SequencePosition(first, 0);
        long consumed = 0;
        long arrived = chunks[0].Length;
        var cursor = default(SearchCursor);
        var searchedUpTo = 0L;
        var found = 0;
        for (var next = 1; ;)
        {
            var buffer = new ReadOnlySequence<byte>((ByteSegment)start.GetObject()!, start.GetInteger(), last, last.Memory.Length);
            InvariantViolationException.Check(buffer.Length == arrived - consumed, () => $"buffer of {buffer.Length} bytes, expected {arrived - consumed}");
            var index = DelimiterSearch.IndexOf(buffer, ref cursor, delimiter);
            if (index >= 0)
            {
                var end = consumed + index + delimiter.Length;
                var expected = found < expectedEnds.Count ? expectedEnds[found] : -1;
                InvariantViolationException.Check(end == expected,
                    () => $"read {found}: match ending at {end}, naive {expected} ({arrived} bytes arrived)");
                InvariantViolationException.Check(end > searchedUpTo,
                    () => $"read {found}: match ending at {end} found late: {searchedUpTo} bytes had been searched");
                found++;
                consumed = end;
                start = buffer.Slice(index + delimiter.Length).Start;
                if (normalizeStart)
                {
                    start = Normalize(start);
                }

                cursor = default;
                searchedUpTo = consumed;
                continue;
            }

            CheckCursor(buffer, cursor, delimiter.Length);
            searchedUpTo = arrived;
            if (next == chunks.Count)
            {
                break;
            }

            last = last.Append(chunks[next++]);
            arrived += last.Memory.Length;
        }

        InvariantViolationException.Check(found == expectedEnds.Count,
            () => $"{found} matches found incrementally, naive {expectedEnds.Count}");
    }

    /// <summary>After a miss, the cursor is where the next search must start: the last <c>delimiterLength - 1</c> bytes.</summary>
    private static void CheckCursor(in ReadOnlySequence<byte> buffer, SearchCursor cursor, int delimiterLength)
    {
        var length = buffer.Length;
        var resume = length - delimiterLength + 1;
        if (!cursor.IsSet)
        {
            InvariantViolationException.Check(resume <= 0, () => $"no cursor after a miss over {length} bytes");
            return;
        }

        InvariantViolationException.Check(cursor.Offset == resume,
            () => $"cursor offset {cursor.Offset} in a {length}-byte buffer, expected {resume}");
        var rest = buffer.Slice(cursor.Position).Length;
        InvariantViolationException.Check(rest == length - cursor.Offset,
            () => $"cursor position leaves {rest} bytes, its offset {cursor.Offset} says {length - cursor.Offset}");
    }

    /// <summary>A position at the end of a segment, moved to the start of the next (non-empty) one, as a pipe hands it out.</summary>
    private static SequencePosition Normalize(SequencePosition position)
    {
        var segment = (ByteSegment)position.GetObject()!;
        var index = position.GetInteger();
        while (index == segment.Memory.Length && segment.Next is ByteSegment next)
        {
            segment = next;
            index = 0;
        }

        return new SequencePosition(segment, index);
    }
}
