using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary><see cref="ReadUntilCloseAsync(CancellationToken)"/> as a read operation.</summary>
    private readonly struct CloseRead : IReadOperation<byte[]>
    {
        public bool TryComplete(IOStream stream, out byte[] result) => stream.TryReadUntilClose(out result!);

        public void Release()
        {
        }
    }
}
