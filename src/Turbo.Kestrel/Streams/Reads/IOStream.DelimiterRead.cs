using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary><see cref="ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/> as a read operation.</summary>
    private struct DelimiterRead(ReadOnlyMemory<byte> delimiter, int? maxBytes) : IReadOperation<byte[]>
    {
        private long _scanned;

        public bool TryComplete(IOStream stream, out byte[] result) =>
            stream.TryReadUntil(delimiter.Span, maxBytes, ref _scanned, out result!);

        public readonly void Release()
        {
        }
    }
}
