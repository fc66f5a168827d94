using System.Text;
using Turbo.Kestrel.Streams;

namespace Turbo.Kestrel;

public partial class IOStream
{
    // The last string delimiter, encoded: handlers pass the same literal each time.
    private string? _lastDelimiterText;
    private byte[]? _lastDelimiterBytes;

    /// <summary>
    /// Reads until <paramref name="delimiter"/> and returns everything up to and including it.
    /// </summary>
    /// <param name="delimiter">The delimiter; not empty. It is found as soon as its last byte arrives, however the bytes were split into segments.</param>
    /// <param name="maxBytes">When the delimiter does not end within this many bytes, the connection is closed and the read throws <see cref="UnsatisfiableReadException"/>. A delimiter ending exactly at <paramref name="maxBytes"/> succeeds.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered for the next read.</param>
    /// <returns>The bytes up to and including the delimiter.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <exception cref="StreamClosedException">The stream closed before the delimiter arrived; unread bytes stay available to <see cref="ReadUntilCloseAsync(CancellationToken)"/> after a peer FIN.</exception>
    /// <exception cref="UnsatisfiableReadException">The delimiter did not end within <paramref name="maxBytes"/>.</exception>
    public ValueTask<byte[]> ReadUntilAsync(ReadOnlyMemory<byte> delimiter, int? maxBytes = null, CancellationToken cancellationToken = default)
    {
        if (delimiter.IsEmpty)
        {
            throw new ArgumentException("The delimiter must not be empty.", nameof(delimiter));
        }

        ValidateMaxBytes(maxBytes);
        _input.BeginRead();
        return _input.Read<DelimiterRead, byte[]>(new DelimiterRead(delimiter, maxBytes), cancellationToken);
    }

    /// <summary>
    /// Reads until <paramref name="delimiter"/> (encoded as UTF-8) and returns everything up to and including it.
    /// </summary>
    /// <param name="delimiter">The delimiter; not empty.</param>
    /// <param name="maxBytes">As for <see cref="ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/>.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>The bytes up to and including the delimiter.</returns>
    public ValueTask<byte[]> ReadUntilAsync(string delimiter, int? maxBytes = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(delimiter);
        ValidateMaxBytes(maxBytes);
        _input.BeginRead();

        // Handlers pass the same literal each time: encode it once.
        if (!ReferenceEquals(delimiter, _lastDelimiterText))
        {
            _lastDelimiterBytes = Encoding.UTF8.GetBytes(delimiter);
            _lastDelimiterText = delimiter;
        }

        return _input.Read<DelimiterRead, byte[]>(new DelimiterRead(_lastDelimiterBytes, maxBytes), cancellationToken);
    }

    /// <summary>
    /// Reads until <paramref name="delimiter"/> into <paramref name="destination"/>, without allocating: the
    /// allocation-free form of <see cref="ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/>, with the
    /// buffer's length as <c>maxBytes</c>.
    /// </summary>
    /// <param name="delimiter">The delimiter; not empty.</param>
    /// <param name="destination">Where the line goes, delimiter included. Its length is the longest line accepted: a
    /// longer one closes the connection and throws <see cref="UnsatisfiableReadException"/>, as <c>maxBytes</c> does.
    /// The bytes after the line stay buffered.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>How many bytes were written to <paramref name="destination"/>: the line and its delimiter.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <exception cref="StreamClosedException">The stream closed before the delimiter arrived.</exception>
    /// <exception cref="UnsatisfiableReadException">The line is longer than <paramref name="destination"/>.</exception>
    public ValueTask<int> ReadUntilAsync(ReadOnlyMemory<byte> delimiter, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (delimiter.IsEmpty)
        {
            throw new ArgumentException("The delimiter must not be empty.", nameof(delimiter));
        }

        if (destination.Length < delimiter.Length)
        {
            throw new ArgumentException("The destination must hold at least the delimiter.", nameof(destination));
        }

        _input.BeginRead();
        return _input.Read<DelimiterIntoRead, int>(new DelimiterIntoRead(delimiter, destination), cancellationToken);
    }

    /// <summary>
    /// Reads exactly <paramref name="count"/> bytes, or with <paramref name="partial"/> between 1 and
    /// <paramref name="count"/> bytes as soon as any are there. <c>count = 0</c> returns an empty array.
    /// </summary>
    /// <param name="count">How many bytes; not negative.</param>
    /// <param name="partial">Return what is there (at least one byte) instead of waiting for all of them.</param>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>The bytes read.</returns>
    /// <exception cref="InvalidOperationException">Another read is pending.</exception>
    /// <exception cref="StreamClosedException">The stream closed before enough bytes arrived; or, without <paramref name="partial"/>,
    /// <paramref name="count"/> is above <see cref="MaxBufferSize"/>: the read could never complete, so the connection is closed at once
    /// and the exception's <see cref="Exception.InnerException"/> is a <see cref="StreamBufferFullException"/>.</exception>
    public ValueTask<byte[]> ReadBytesAsync(int count, bool partial = false, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _input.BeginRead();
        if (!partial && count > MaxBufferSize)
        {
            // It could only complete by holding more than the limit: fail now, before any byte is buffered for it.
            try
            {
                return ValueTask.FromException<byte[]>(_input.BufferFull(count, "A read asked for {0} bytes"));
            }
            finally
            {
                _input.EndRead();
            }
        }

        return _input.Read<CountRead, byte[]>(new CountRead(count, partial), cancellationToken);
    }

    /// <summary>
    /// Reads until the peer closes its side of the connection and returns every byte received, including
    /// bytes a failed read left behind.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; bytes already received stay buffered.</param>
    /// <returns>Every byte not yet read.</returns>
    /// <exception cref="StreamClosedException">The connection was reset, the stream was closed locally, or more than <see cref="MaxBufferSize"/> bytes arrived.</exception>
    public ValueTask<byte[]> ReadUntilCloseAsync(CancellationToken cancellationToken = default)
    {
        _input.BeginRead();
        return _input.Read<CloseRead, byte[]>(default, cancellationToken);
    }

    private static void ValidateMaxBytes(int? maxBytes)
    {
        if (maxBytes is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "maxBytes must be at least 1.");
        }
    }
}
