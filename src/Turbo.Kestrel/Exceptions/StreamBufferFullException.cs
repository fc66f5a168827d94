namespace Turbo.Kestrel;

/// <summary>
/// The reason a stream was closed when a pending read looked at more than
/// <see cref="IOStream.MaxBufferSize"/> bytes without completing. It reaches callers as the
/// <see cref="Exception.InnerException"/> of the <see cref="StreamClosedException"/> the read throws.
/// </summary>
public class StreamBufferFullException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public StreamBufferFullException()
        : base("The stream's read buffer is full.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What happened.</param>
    public StreamBufferFullException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What happened.</param>
    /// <param name="innerException">The cause, if any.</param>
    public StreamBufferFullException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
