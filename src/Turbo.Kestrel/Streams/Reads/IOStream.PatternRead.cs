using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary><see cref="ReadUntilPatternAsync"/> as a read operation; owns the pattern's pooled char buffer.</summary>
    private readonly struct PatternRead(PatternSearch search, int? maxBytes) : IReadOperation<byte[]>
    {
        public bool TryComplete(IOStream stream, out byte[] result) => stream.TryReadUntilPattern(search, maxBytes, out result!);

        public void Release() => search.Dispose();
    }
}
