namespace Turbo.Kestrel.Streams;

/// <summary>A small number per read operation type: its slot among a buffer's read drivers.</summary>
internal static class ReadKind
{
    /// <summary>How many slots a buffer makes at first (the library's own operation types).</summary>
    public const int Initial = 6;

    private static int s_count;

    /// <summary>The slot of <typeparamref name="TOperation"/>.</summary>
    internal static class Of<TOperation>
        where TOperation : struct, IReadOperation
    {
        public static readonly int Index = Interlocked.Increment(ref s_count) - 1;
    }
}
