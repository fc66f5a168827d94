using Microsoft.Extensions.Time.Testing;

namespace Turbo.Kestrel.Testing;

/// <summary>Moving a fake clock the way real time moves: in steps no longer than the one-second heartbeat.</summary>
internal static class FakeClock
{
    /// <summary>Advances <paramref name="time"/> by <paramref name="span"/> in steps of at most one second, so the heartbeat runs at each.</summary>
    public static void Elapse(this FakeTimeProvider time, TimeSpan span)
    {
        var step = TimeSpan.FromSeconds(1);
        for (; span > step; span -= step)
        {
            time.Advance(step);
        }

        time.Advance(span);
    }
}
