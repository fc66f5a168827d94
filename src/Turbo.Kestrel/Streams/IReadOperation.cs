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
    /// Throws when the read can never complete (a limit, or the stream closed).
    /// </summary>
    bool TryComplete(IOStream stream, out TResult result);
}
