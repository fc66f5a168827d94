using System.Runtime.CompilerServices;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes, handing each piece to <paramref name="onChunk"/> as it arrives
    /// instead of collecting them (Turbo's <c>read_bytes</c> with a streaming callback). Nothing is copied: a chunk
    /// points into the connection's buffer and is only valid until its callback's task completes; copy what you keep.
    /// </summary>
    /// <param name="count">How many bytes; not negative.</param>
    /// <param name="onChunk">Called with each chunk, its only argument, in order; the next chunk waits for its task.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes not yet handed to the callback stay buffered.</param>
    /// <returns>A task that completes after the callback has seen all <paramref name="count"/> bytes.</returns>
    /// <exception cref="StreamClosedException">The stream closed before <paramref name="count"/> bytes arrived.</exception>
    public ValueTask ReadBytesAsync(int count, Func<ReadOnlyMemory<byte>, ValueTask> onChunk, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentNullException.ThrowIfNull(onChunk);
        _input.BeginRead();
        return StreamChunksAsync(count, onChunk, cancellationToken);
    }

    /// <summary>
    /// Hands every byte to <paramref name="onChunk"/> as it arrives, until the peer closes its side (Turbo's
    /// <c>read_until_close</c> with a streaming callback). Nothing accumulates, so <see cref="MaxBufferSize"/> does
    /// not apply. A chunk is only valid until its callback's task completes.
    /// </summary>
    /// <param name="onChunk">Called with each chunk, its only argument, in order; the next chunk waits for its task.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes not yet handed to the callback stay buffered.</param>
    /// <returns>A task that completes when the peer has closed and every byte was handed over.</returns>
    /// <exception cref="StreamClosedException">The connection was reset or closed locally.</exception>
    public ValueTask ReadUntilCloseAsync(Func<ReadOnlyMemory<byte>, ValueTask> onChunk, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onChunk);
        _input.BeginRead();
        return StreamChunksAsync(-1, onChunk, cancellationToken);
    }

    /// <summary>Hands buffered and arriving bytes to the callback; <paramref name="count"/> &lt; 0 means until FIN.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask StreamChunksAsync(long count, Func<ReadOnlyMemory<byte>, ValueTask> onChunk, CancellationToken cancellationToken)
    {
        try
        {
            var remaining = count < 0 ? long.MaxValue : count;
            while (remaining > 0)
            {
                var available = await _input.Read<ChunkWait, long>(new ChunkWait(untilClose: count < 0), cancellationToken, endsRead: false).ConfigureAwait(false);
                if (available == 0)
                {
                    return;
                }

                var chunk = _input.Buffered.Slice(0, Math.Min(remaining, available));
                foreach (var segment in chunk)
                {
                    await onChunk(segment).ConfigureAwait(false);
                    if (_input.IsAbandoned)
                    {
                        throw new StreamClosedException("The handler returned while this read's callback ran; the connection was reset.");
                    }
                }

                _input.Skip(chunk.Length);
                remaining -= chunk.Length;
            }
        }
        finally
        {
            _input.EndRead();
        }
    }
}
