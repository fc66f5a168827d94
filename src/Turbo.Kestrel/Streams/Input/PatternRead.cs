namespace Turbo.Kestrel.Streams;

/// <summary><c>ReadUntilPatternAsync</c>: the bytes through the end of the first match; owns the pattern's pooled char buffer.</summary>
internal readonly struct PatternRead(PatternSearch search, int? maxBytes) : IReadOperation<byte[]>
{
    public ReadStatus TryRead(InputBuffer input, out byte[] result, out Exception? error)
    {
        long end = -1;
        var examined = input.BufferedLength;
        if (input.HasReadResult)
        {
            bool ran;
            do
            {
                examined = input.BufferedLength;
                var mustDecide = input.MoreCannotArrive || examined >= maxBytes || examined > input.MaxBufferSize;
                end = search.FindMatchEnd(input.Buffered, mustDecide, out ran);
            }
            while (!ran && input.TryTakeWaitingBytes());

            if (!ran)
            {
                // Nothing more is waiting: the peer may be waiting for our reply, so decide now.
                end = search.FindMatchEnd(input.Buffered, mustDecide: true, out _);
            }
        }

        // A match ending exactly at maxBytes may depend on the byte after it: give up only past maxBytes.
        return input.TakeThrough(end, examined, maxBytes, lookahead: true, out result, out error);
    }

    public void Release() => search.Dispose();
}
