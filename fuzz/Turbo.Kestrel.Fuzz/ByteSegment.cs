using System.Buffers;

namespace Turbo.Kestrel.Fuzz;

/// <summary>One segment of a hand-built <see cref="ReadOnlySequence{T}"/>, which a chain can grow at its end.</summary>
internal sealed class ByteSegment : ReadOnlySequenceSegment<byte>
{
    /// <summary>Creates a segment holding <paramref name="memory"/>, starting at <paramref name="runningIndex"/>.</summary>
    /// <param name="memory">The bytes (may be empty).</param>
    /// <param name="runningIndex">The offset of the first byte in the whole chain.</param>
    public ByteSegment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary>Links a new segment after this one and returns it.</summary>
    /// <param name="memory">The bytes of the new segment.</param>
    /// <returns>The new last segment.</returns>
    public ByteSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new ByteSegment(memory, RunningIndex + Memory.Length);
        Next = next;
        return next;
    }
}
