using System.Buffers;

namespace Turbo.Kestrel.Fuzz;

/// <summary>
/// Cuts bytes into chunks at points derived from a seed (a deterministic xorshift generator, so that a crash replays
/// exactly) and chains chunks into a <see cref="ReadOnlySequence{T}"/>.
/// </summary>
internal static class Segmenter
{
    /// <summary>Cuts <paramref name="data"/> into chunks of 1 to <paramref name="maxChunk"/> bytes (0 too, when allowed).</summary>
    /// <param name="data">The bytes to cut.</param>
    /// <param name="seed">Chooses the cut points.</param>
    /// <param name="maxChunk">The longest chunk, at least 1.</param>
    /// <param name="allowEmpty">Whether empty chunks may appear between the others.</param>
    /// <returns>The chunks, in order; together they are <paramref name="data"/>.</returns>
    public static List<ReadOnlyMemory<byte>> Split(ReadOnlyMemory<byte> data, uint seed, int maxChunk, bool allowEmpty)
    {
        var chunks = new List<ReadOnlyMemory<byte>>();
        var state = seed * 2654435761u ^ 0x9E3779B9u;
        var offset = 0;
        while (offset < data.Length)
        {
            var draw = Next(ref state);
            var size = allowEmpty ? (int)(draw % (uint)(maxChunk + 1)) : 1 + (int)(draw % (uint)maxChunk);
            size = Math.Min(size, data.Length - offset);
            chunks.Add(data.Slice(offset, size));
            offset += size;
        }

        return chunks;
    }

    /// <summary>Cuts <paramref name="data"/> into chunks of <paramref name="size"/> bytes (the last may be shorter).</summary>
    /// <param name="data">The bytes to cut.</param>
    /// <param name="size">The chunk size, at least 1.</param>
    /// <returns>The chunks, in order.</returns>
    public static List<ReadOnlyMemory<byte>> Fixed(ReadOnlyMemory<byte> data, int size)
    {
        var chunks = new List<ReadOnlyMemory<byte>>();
        for (var offset = 0; offset < data.Length; offset += size)
        {
            chunks.Add(data.Slice(offset, Math.Min(size, data.Length - offset)));
        }

        return chunks;
    }

    /// <summary>Chains <paramref name="chunks"/> into one sequence, one segment each (empty chunks included).</summary>
    /// <param name="chunks">The segments' bytes, in order.</param>
    /// <returns>The sequence; empty when there are no chunks.</returns>
    public static ReadOnlySequence<byte> Build(IReadOnlyList<ReadOnlyMemory<byte>> chunks)
    {
        if (chunks.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new ByteSegment(chunks[0], 0);
        var last = first;
        for (var i = 1; i < chunks.Count; i++)
        {
            last = last.Append(chunks[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Returns the next value of a xorshift32 generator.</summary>
    /// <param name="state">The generator's state, never 0.</param>
    /// <returns>The next value.</returns>
    public static uint Next(ref uint state)
    {
        if (state == 0)
        {
            state = 0x6D2B79F5u;
        }

        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return state;
    }
}
