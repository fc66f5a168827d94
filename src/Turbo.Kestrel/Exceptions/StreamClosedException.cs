namespace Turbo.Kestrel;

/// <summary>
/// Thrown by an <see cref="IOStream"/> operation that cannot complete because the stream is closed:
/// the peer closed or reset the connection, the stream was closed locally, or a limit closed it.
/// </summary>
/// <remarks>
/// <see cref="Exception.InnerException"/> carries the real cause when there is one, for example a
/// <see cref="StreamBufferFullException"/> when <see cref="IOStream.MaxBufferSize"/> was exceeded, or the
/// transport's reset exception. This is Tornado's <c>StreamClosedError(real_error)</c>.
/// </remarks>
public class StreamClosedException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public StreamClosedException()
        : base("The stream is closed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What happened.</param>
    public StreamClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the real cause.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The real cause, if any.</param>
    public StreamClosedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
