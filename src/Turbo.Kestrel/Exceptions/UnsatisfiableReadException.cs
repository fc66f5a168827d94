namespace Turbo.Kestrel;

/// <summary>
/// Thrown by <see cref="IOStream.ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/> and its
/// siblings when the delimiter or match does not end within the <c>maxBytes</c> the caller allowed.
/// The connection is closed when this is thrown (Tornado's <c>UnsatisfiableReadError</c>).
/// </summary>
public class UnsatisfiableReadException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public UnsatisfiableReadException()
        : base("The read cannot be satisfied within the allowed number of bytes.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What happened.</param>
    public UnsatisfiableReadException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause, if any.</param>
    public UnsatisfiableReadException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
