namespace Turbo.Kestrel.Streams;

/// <summary>
/// One kind of read (until a delimiter, a count, a pattern, the peer's FIN) as a struct, so that
/// <see cref="InputBuffer"/>'s read loop is specialised for it by the JIT: no allocation, no virtual call per attempt.
/// </summary>
/// <typeparam name="TResult">What the read returns.</typeparam>
internal interface IReadOperation<TResult> : IReadOperation
{
    /// <summary>
    /// Tries to complete the read from <paramref name="input"/>'s buffered bytes. On <see cref="ReadStatus.Failed"/>,
    /// <paramref name="error"/> is the exception the read ends with, made here and never thrown yet.
    /// </summary>
    ReadStatus TryRead(InputBuffer input, out TResult result, out Exception? error);
}
