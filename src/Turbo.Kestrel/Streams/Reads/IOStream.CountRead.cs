using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary><see cref="ReadBytesAsync(int, bool, CancellationToken)"/> as a read operation.</summary>
    private readonly struct CountRead(int count, bool partial) : IReadOperation<byte[]>
    {
        public bool TryComplete(IOStream stream, out byte[] result) => stream.TryReadBytes(count, partial, out result!);

        public void Release()
        {
        }
    }
}
