using System.Text;

namespace Turbo.Kestrel;

public partial class IOStream
{
    /// <summary>
    /// Writes <paramref name="data"/>. Writes may overlap, from one task or many: bytes leave in call order,
    /// and each write completes when its bytes are handed to the transport, waiting while the peer does not
    /// read (backpressure). Do not change <paramref name="data"/> until the write completes.
    /// </summary>
    /// <remarks>
    /// A write still pending when <see cref="Close"/> is called is sent before the FIN and completes normally.
    /// A write pending when the connection is reset, aborted (<see cref="Abort"/>, a drain deadline) or otherwise
    /// lost fails with <see cref="StreamClosedException"/>: its bytes may or may not have reached the peer.
    /// </remarks>
    /// <param name="data">The bytes to send.</param>
    /// <param name="cancellationToken">Stops waiting for the write to complete; the bytes are still sent in order (from a copy when the write could not be sent at once, so <paramref name="data"/> is the caller's again as soon as the call returns or is cancelled). A token already cancelled when the call is made sends nothing: the call is cancelled at once. To drop output, use <see cref="Abort"/>.</param>
    /// <returns>A task that completes when the bytes were handed to the transport.</returns>
    /// <exception cref="StreamClosedException">The stream is closed, or the connection closed before the bytes could be sent.</exception>
    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        => _output.WriteAsync(data, cancellationToken, mayDefer: _input.IsPipelined);

    /// <summary>Writes <paramref name="data"/> encoded as UTF-8; otherwise as <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    /// <param name="data">The text to send.</param>
    /// <param name="cancellationToken">Stops waiting for the write to complete; the bytes are still sent in order.</param>
    /// <returns>A task that completes when the bytes were handed to the transport.</returns>
    public ValueTask WriteAsync(string data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return _output.WriteAsync(Encoding.UTF8.GetBytes(data), cancellationToken, mayDefer: _input.IsPipelined);
    }
}
