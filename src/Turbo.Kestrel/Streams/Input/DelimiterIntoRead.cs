namespace Turbo.Kestrel.Streams;

/// <summary><c>ReadUntilAsync(delimiter, destination)</c>: the bytes through the first delimiter, copied into the caller's buffer.</summary>
internal struct DelimiterIntoRead(ReadOnlyMemory<byte> delimiter, Memory<byte> destination) : IReadOperation<int>
{
    private SearchCursor _cursor;

    public ReadStatus TryRead(InputBuffer input, out int result, out Exception? error)
    {
        var end = input.FindDelimiterEnd(delimiter.Span, ref _cursor);
        return input.CopyThrough(end, destination.Span, out result, out error);
    }

    public readonly void Release()
    {
    }
}
