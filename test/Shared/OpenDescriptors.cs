namespace Turbo.Kestrel.Testing;

/// <summary>The test process's open file descriptors (Linux, from /proc/self/fd), for "nothing leaked" checks.</summary>
internal static class OpenDescriptors
{
    /// <summary>Descriptors a test may leave above its starting count: runtime threads, epoll instances, and the like.</summary>
    public const int Slack = 20;

    public static int Count() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>
    /// Waits until at most <paramref name="before"/> + <see cref="Slack"/> descriptors are open: a socket is closed a
    /// little after its connection ends, so the count is polled (bounded), not read once.
    /// </summary>
    public static async Task SettleAsync(int before)
    {
        try
        {
            await Timeouts.UntilAsync(() => Count() <= before + Slack, $"at most {before} + {Slack} descriptors open");
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{Count()} descriptors are open, {before} before the scenario (slack {Slack}): some leaked.");
        }
    }
}
