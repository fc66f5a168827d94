namespace Turbo.Kestrel.Streams;

/// <summary><c>ReadUntilCloseAsync()</c>: every byte until the peer's FIN.</summary>
internal readonly struct CloseRead : IReadOperation<byte[]>
{
    public ReadStatus TryRead(InputBuffer input, out byte[] result, out Exception? error)
    {
        var available = input.BufferedLength;
        if (input.EndedByPeer)
        {
            result = available == 0 ? [] : input.Take(available);
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
