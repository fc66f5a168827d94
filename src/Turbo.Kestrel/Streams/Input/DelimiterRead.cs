namespace Turbo.Kestrel.Streams;

/// <summary><c>ReadUntilAsync(delimiter, maxBytes)</c>: the bytes through the first delimiter, as a new array.</summary>
internal struct DelimiterRead(ReadOnlyMemory<byte> delimiter, int? maxBytes) : IReadOperation<byte[]>
{
    private SearchCursor _cursor;

    public ReadStatus TryRead(InputBuffer input, out byte[] result, out Exception? error)
    {
        var end = input.FindDelimiterEnd(delimiter.Span, ref _cursor);
        return input.TakeThrough(end, input.BufferedLength, maxBytes, lookahead: false, out result, out error);
    }

    public readonly void Release()
    {
    }
}
