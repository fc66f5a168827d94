namespace Turbo.Kestrel.Fuzz;

/// <summary>
/// Thrown by a harness when the code under test broke one of its invariants. Escaping the harness, it is reported to
/// afl-fuzz as a crash, like any other exception.
/// </summary>
internal sealed class InvariantViolationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InvariantViolationException()
    {
    }

    /// <summary>Creates the exception with a description of what went wrong.</summary>
    /// <param name="message">Which invariant, with the values that broke it.</param>
    public InvariantViolationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a description and the exception that caused it.</summary>
    /// <param name="message">Which invariant, with the values that broke it.</param>
    /// <param name="innerException">The cause.</param>
    public InvariantViolationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Throws when <paramref name="condition"/> is false.</summary>
    /// <param name="condition">What must hold.</param>
    /// <param name="message">Builds the description, only when it does not hold.</param>
    public static void Check(bool condition, Func<string> message)
    {
        if (!condition)
        {
            throw new InvariantViolationException(message());
        }
    }
}
