namespace Turbo.Kestrel.Streams;

/// <summary>
/// One kind of read (until a delimiter, a count, a pattern, the peer's FIN), as a struct so that the shared
/// read loop is specialised for it by the JIT: no allocation, no virtual call per attempt.
/// </summary>
/// <typeparam name="TResult">What the read returns.</typeparam>
internal interface IReadOperation<TResult> : IReadRelease
{
    /// <summary>
    /// Completes the read from the stream's buffered bytes, or returns false when more bytes are needed.
    /// When the read can never complete it throws (a limit), or, for the stream having ended, throws unless a read
    /// driver is retrying it, which receives that error instead (see <c>IOStream.ThrowIfMoreCannotArrive</c>).
    /// </summary>
    bool TryComplete(IOStream stream, out TResult result);
}
