using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary><see cref="ReadUntilAsync(ReadOnlyMemory{byte}, Memory{byte}, CancellationToken)"/> as a read operation.</summary>
    private struct DelimiterIntoRead(ReadOnlyMemory<byte> delimiter, Memory<byte> destination) : IReadOperation<int>
    {
        private SearchCursor _cursor;

        public bool TryComplete(IOStream stream, out int result)
        {
            result = stream.TryReadUntilInto(delimiter.Span, destination.Span, ref _cursor);
            return result >= 0;
        }

        public readonly void Release()
        {
        }
    }
}
