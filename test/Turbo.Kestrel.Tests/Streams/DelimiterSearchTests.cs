using System.Buffers;
using System.Text;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel.Tests.Streams;

public class DelimiterSearchTests
{
    [Theory]
    [InlineData(new[] { "abc\r\ndef" }, "\r\n", 0, 3)]
    [InlineData(new[] { "abc\r", "\ndef" }, "\r\n", 0, 3)]
    [InlineData(new[] { "ab", "c", "\r", "\n" }, "\r\n", 0, 3)]
    [InlineData(new[] { "xxE", "N", "D!" }, "END!", 0, 2)]
    [InlineData(new[] { "aa", "aa", "ab" }, "aab", 0, 3)]
    [InlineData(new[] { "a\r\nb\r\n" }, "\r\n", 2, 4)]
    [InlineData(new[] { "no delimiter", " here" }, "\r\n", 0, -1)]
    [InlineData(new[] { "abc\r" }, "\r\n", 0, -1)]
    [InlineData(new[] { "abcX", "Y", "Z" }, "XYZ", 0, 3)]
    public void IndexOf_FindsFirstMatchAcrossAnySegmentation(string[] segments, string delimiter, long start, long expected)
    {
        var buffer = Segments(segments);

        var index = DelimiterSearch.IndexOf(buffer, start, Encoding.Latin1.GetBytes(delimiter));

        Assert.Equal(expected, index);
    }

    [Fact]
    public void IndexOf_MatchesIndexOfOnFlatBytesForEverySplitPoint()
    {
        var text = "aabaab-aaab|aab\r\n\r\nEND";
        foreach (var delimiter in new[] { "aab", "\r\n\r\n", "END", "b|a", "x" })
        {
            var expected = text.IndexOf(delimiter, StringComparison.Ordinal);
            for (var i = 1; i < text.Length; i++)
            {
                for (var j = i; j < text.Length; j++)
                {
                    var buffer = Segments(text[..i], text[i..j], text[j..]);
                    Assert.Equal(expected, DelimiterSearch.IndexOf(buffer, 0, Encoding.Latin1.GetBytes(delimiter)));
                }
            }
        }
    }

    [Fact]
    public void IndexOf_WithCursor_OverAGrowingBufferFindsWhatAFlatSearchFinds()
    {
        var text = "xxaabaaab--END!\r\n\r\nEND!";
        foreach (var delimiter in new[] { "aab", "\r\n\r\n", "END!", "x", "!!" })
        {
            var expected = text.IndexOf(delimiter, StringComparison.Ordinal);
            for (var step = 1; step <= 4; step++)
            {
                // One chain of segments that grows, as a pipe's buffer does while a read waits.
                var cursor = default(SearchCursor);
                Segment? first = null;
                Segment? last = null;
                var found = -1L;
                for (var offset = 0; found < 0 && offset < text.Length; offset += step)
                {
                    var bytes = Encoding.Latin1.GetBytes(text.Substring(offset, Math.Min(step, text.Length - offset)));
                    last = last is null ? first = new Segment(bytes, 0) : last.Append(bytes);
                    var buffer = new ReadOnlySequence<byte>(first!, 0, last, last.Memory.Length);
                    found = DelimiterSearch.IndexOf(buffer, ref cursor, Encoding.Latin1.GetBytes(delimiter));
                }

                Assert.Equal(expected, found);
            }
        }
    }

    internal static ReadOnlySequence<byte> Segments(params string[] parts)
    {
        var chunks = parts.Where(p => p.Length > 0).Select(p => Encoding.Latin1.GetBytes(p)).ToArray();
        if (chunks.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(chunks[0], 0);
        var last = first;
        foreach (var chunk in chunks.Skip(1))
        {
            last = last.Append(chunk);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes, long runningIndex)
        {
            Memory = bytes;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] bytes)
        {
            var next = new Segment(bytes, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
