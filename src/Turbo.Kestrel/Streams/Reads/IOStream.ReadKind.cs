using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    private static int s_readKinds;

    /// <summary>A small number per read operation type: its slot among the stream's read drivers.</summary>
    private static class ReadKind<TOperation>
        where TOperation : struct, IReadRelease
    {
        public static readonly int Index = Interlocked.Increment(ref s_readKinds) - 1;
    }
}
