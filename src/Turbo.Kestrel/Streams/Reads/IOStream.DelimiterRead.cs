using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary><see cref="ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/> as a read operation.</summary>
    private struct DelimiterRead(ReadOnlyMemory<byte> delimiter, int? maxBytes) : IReadOperation<byte[]>
    {
        private SearchCursor _cursor;

        public bool TryComplete(IOStream stream, out byte[] result) =>
            stream.TryReadUntil(delimiter.Span, maxBytes, ref _cursor, out result!);

        public readonly void Release()
        {
        }
    }
}
