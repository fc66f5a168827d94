using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary>
    /// Waits until bytes are buffered and returns how many, without consuming them (the streaming reads hand
    /// them to their callback in place). With <c>untilClose</c>, the peer's FIN completes it with 0.
    /// </summary>
    private readonly struct ChunkWait(bool untilClose) : IReadOperation<long>
    {
        public bool TryComplete(IOStream stream, out long result)
        {
            if (stream._holding && !stream._buffered.IsEmpty)
            {
                result = stream._buffered.Length;
                return true;
            }

            if (untilClose && stream._inputCompleted && stream._inputFailure is null && !stream._closedLocally)
            {
                result = 0;
                return true;
            }

            stream.ThrowIfMoreCannotArrive(0);
            result = 0;
            return false;
        }

        public void Release()
        {
        }
    }
}
