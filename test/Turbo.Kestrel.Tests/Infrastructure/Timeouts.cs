namespace Turbo.Kestrel.Tests.Infrastructure;

/// <summary>Every wait in the tests is bounded: a hung server fails the test instead of hanging the run.</summary>
internal static class Timeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(15);

    public static Task Within(this Task task) => task.WaitAsync(Default);

    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Default);

    public static Task Within(this ValueTask task) => task.AsTask().WaitAsync(Default);
}
