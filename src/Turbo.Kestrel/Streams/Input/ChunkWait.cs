namespace Turbo.Kestrel.Streams;

/// <summary>
/// Waits until bytes are buffered and returns how many, without consuming them: the streaming reads hand them to
/// their callback in place. With <c>untilClose</c>, the peer's FIN completes it with 0.
/// </summary>
internal readonly struct ChunkWait(bool untilClose) : IReadOperation<long>
{
    public ReadStatus TryRead(InputBuffer input, out long result, out Exception? error)
    {
        result = input.BufferedLength;
        error = null;
        if (result > 0 || (untilClose && input.EndedByPeer))
        {
            return ReadStatus.Complete;
        }

        return input.NeedMoreOrFail(0, out error);
    }

    public void Release()
    {
    }
}
