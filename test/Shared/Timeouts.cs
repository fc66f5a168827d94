namespace Turbo.Kestrel.Testing;

/// <summary>Every wait in the tests is bounded: a hung server fails the test instead of hanging the run.</summary>
internal static class Timeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(15);

    public static Task Within(this Task task) => task.WaitAsync(Default);

    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Default);

    public static Task Within(this ValueTask task) => task.AsTask().WaitAsync(Default);

    /// <summary>
    /// Waits until <paramref name="condition"/> holds, checking every 10 ms, for state the server updates after an
    /// event the test cannot await (a slot freed once a rejected connection is torn down). Fails after the timeout.
    /// </summary>
    public static Task UntilAsync(Func<bool> condition, string what) => UntilAsync(() => Task.FromResult(condition()), what);

    /// <summary>As <see cref="UntilAsync(Func{bool}, string)"/>, for a condition that is checked asynchronously.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Default;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Still not true after {Default.TotalSeconds} s: {what}.");
            }

            await Task.Delay(10);
        }
    }
}
