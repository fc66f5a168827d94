namespace Turbo.Kestrel.Streams;

/// <summary><c>ReadBytesAsync(count, partial)</c>: exactly <c>count</c> bytes, or with <c>partial</c> whatever is there (at least one).</summary>
internal readonly struct CountRead(int count, bool partial) : IReadOperation<byte[]>
{
    public ReadStatus TryRead(InputBuffer input, out byte[] result, out Exception? error)
    {
        var available = input.BufferedLength;
        if (available >= count || (partial && available > 0))
        {
            result = count == 0 ? [] : input.Take(Math.Min(count, available));
            error = null;
            return ReadStatus.Complete;
        }

        result = [];
        return input.NeedMoreOrFail(available, out error);
    }

    public void Release()
    {
    }
}
