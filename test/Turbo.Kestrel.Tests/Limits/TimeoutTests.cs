using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Limits;

/// <summary>
/// IdleTimeout, WriteTimeout and MinReadRate on an in-memory connection and a fake clock: each fires one tick after
/// its limit, never at it, closes the connection with the limit named, and is counted and logged once.
/// </summary>
public class TimeoutTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task IdleTimeout_ClosesAfterTheTimeout_NotAtIt()
    {
        await using var connection = new WatchedConnection(l => l.IdleTimeout = TimeSpan.FromSeconds(5));
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        connection.Time.Elapse(TimeSpan.FromSeconds(5));
        Assert.False(read.IsCompleted);
        Assert.False(connection.Stream.IsClosed);

        connection.Time.Elapse(Second);
        var error = await Assert.ThrowsAsync<StreamClosedException>(() => read).Within();
        var timeout = Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Contains("IdleTimeout", timeout.Message, StringComparison.Ordinal);
        Assert.True(connection.Stream.IsClosed);
        Assert.Equal("idle_timeout", connection.Stream.ClosedByLimit);
        var log = Assert.Single(connection.Logs.Entries, e => e.EventId.Name == "IdleTimeout");
        Assert.Equal(LogLevel.Debug, log.Level);
    }

    [Fact]
    public async Task IdleTimeout_RestartsWithEveryByteThatArrives()
    {
        await using var connection = new WatchedConnection(l => l.IdleTimeout = TimeSpan.FromSeconds(5));
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        for (var i = 0; i < 5; i++)
        {
            connection.Time.Elapse(TimeSpan.FromSeconds(4));
            await connection.Pipe.SendAsync("x");
        }

        Assert.False(read.IsCompleted);
        await connection.Pipe.SendAsync("\n");
        Assert.Equal("xxxxx\n", System.Text.Encoding.ASCII.GetString(await read.Within()));
        Assert.Null(connection.Stream.ClosedByLimit);
    }

    [Fact]
    public async Task IdleTimeout_RestartsWhenAWriteCompletes()
    {
        await using var connection = new WatchedConnection(l => l.IdleTimeout = TimeSpan.FromSeconds(5));

        for (var i = 0; i < 3; i++)
        {
            connection.Time.Elapse(TimeSpan.FromSeconds(4));
            await connection.Stream.WriteAsync("tick\n").Within();
        }

        // Activity is stamped by the next heartbeat (no clock read per write): never early, at most a second late.
        connection.Time.Elapse(TimeSpan.FromSeconds(5));
        Assert.False(connection.Stream.IsClosed);
        connection.Time.Elapse(TimeSpan.FromSeconds(2));
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task WriteTimeout_AbortsAWriteThePeerDoesNotTake_AfterTheTimeout()
    {
        await using var connection = new WatchedConnection(l => l.WriteTimeout = TimeSpan.FromSeconds(2), pauseOutput: true);
        var write = connection.Stream.WriteAsync(new byte[1024 * 1024]).AsTask();
        Assert.False(write.IsCompleted);

        connection.Time.Elapse(TimeSpan.FromSeconds(2));
        Assert.False(write.IsCompleted);
        connection.Time.Elapse(Second);

        var error = await Assert.ThrowsAsync<StreamClosedException>(() => write).Within();
        Assert.Contains("WriteTimeout", Assert.IsType<TimeoutException>(error.InnerException).Message, StringComparison.Ordinal);
        Assert.Equal("write_timeout", connection.Stream.ClosedByLimit);
        Assert.Equal(LogLevel.Information, Assert.Single(connection.Logs.Entries, e => e.EventId.Name == "WriteTimeout").Level);
        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.WriteAsync("more").AsTask()).Within();
    }

    [Fact]
    public async Task WriteTimeout_AWriteTheTransportFailed_IsNotLaterReportedAsATimeout()
    {
        await using var connection = new WatchedConnection(l => l.WriteTimeout = TimeSpan.FromSeconds(2), pauseOutput: true);
        var write = connection.Stream.WriteAsync(new byte[1024 * 1024]).AsTask();
        Assert.False(write.IsCompleted);

        connection.Pipe.FailServerOutput(new IOException("Connection reset by peer"));
        var error = await Assert.ThrowsAsync<StreamClosedException>(() => write).Within();
        Assert.IsType<IOException>(error.InnerException);

        connection.Time.Elapse(TimeSpan.FromSeconds(5));
        Assert.Null(connection.Stream.ClosedByLimit);
        Assert.DoesNotContain(connection.Logs.Entries, e => e.EventId.Name == "WriteTimeout");
    }

    [Fact]
    public async Task WriteTimeout_ALargeWriteToAPeerThatKeepsReadingCompletes()
    {
        await using var connection = new WatchedConnection(l => l.WriteTimeout = TimeSpan.FromSeconds(2), pauseOutput: true);
        var data = new byte[4 * 1024 * 1024];
        var write = connection.Stream.WriteAsync(data).AsTask();

        // The peer takes each piece 1.5 s after it arrived: a minute and a half in all, far past the timeout, but
        // never 2 s without progress. The clock only moves while a piece waits in the pipe, as it would in real time.
        long received = 0;
        while (received < data.Length)
        {
            received += await connection.Pipe.DrainServerOutputAsync(() => connection.Time.Elapse(TimeSpan.FromSeconds(1.5)));
        }

        await write.Within();
        Assert.Equal(data.Length, received);
        Assert.Null(connection.Stream.ClosedByLimit);
    }

    [Fact]
    public async Task WriteTimeout_ALargeWriteHoldsAtMostOnePieceInThePipe()
    {
        await using var connection = new WatchedConnection(l => l.WriteTimeout = TimeSpan.FromSeconds(2), pauseOutput: true);
        var write = connection.Stream.WriteAsync(new byte[16 * 1024 * 1024]).AsTask();

        // The pipe pauses at 64 KiB: had the write been copied whole, 16 MiB would be waiting here.
        var waiting = await connection.Pipe.DrainServerOutputAsync();
        Assert.InRange(waiting, 1, 2 * 64 * 1024);
        Assert.False(write.IsCompleted);
        connection.Stream.Abort();
        await Assert.ThrowsAsync<StreamClosedException>(() => write).Within();
    }

    [Fact]
    public async Task MinReadRate_ClosesAMessageThatDrips_AfterTheGracePeriod()
    {
        await using var connection = new WatchedConnection(l =>
        {
            l.IdleTimeout = TimeSpan.FromSeconds(5);
            l.MinReadRate = new MinDataRate(bytesPerSecond: 100, gracePeriod: TimeSpan.FromSeconds(5));
        });
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        // Slowloris: one byte every 2 s keeps the idle timeout away, but the message never gets anywhere.
        await connection.Pipe.SendAsync("G");
        connection.Time.Elapse(TimeSpan.FromSeconds(2));
        await connection.Pipe.SendAsync("E");
        connection.Time.Elapse(TimeSpan.FromSeconds(2));
        await connection.Pipe.SendAsync("T");
        Assert.False(read.IsCompleted);
        connection.Time.Elapse(TimeSpan.FromSeconds(2));

        var error = await Assert.ThrowsAsync<StreamClosedException>(() => read).Within();
        Assert.Contains("MinReadRate", Assert.IsType<TimeoutException>(error.InnerException).Message, StringComparison.Ordinal);
        Assert.Equal("min_read_rate", connection.Stream.ClosedByLimit);
    }

    [Fact]
    public async Task MinReadRate_Off_TheDripSurvivesAndTheLineArrives()
    {
        await using var connection = new WatchedConnection(l => l.IdleTimeout = TimeSpan.FromSeconds(5));
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        foreach (var c in "slow")
        {
            await connection.Pipe.SendAsync(c.ToString());
            connection.Time.Elapse(TimeSpan.FromSeconds(2));
        }

        await connection.Pipe.SendAsync("\n");
        Assert.Equal("slow\n", System.Text.Encoding.ASCII.GetString(await read.Within()));
    }

    [Fact]
    public async Task MinReadRate_DoesNotApplyWhileWaitingForAMessageToBegin()
    {
        await using var connection = new WatchedConnection(l =>
            l.MinReadRate = new MinDataRate(bytesPerSecond: 100, gracePeriod: TimeSpan.FromSeconds(2)));
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        // A client that thinks for a minute between commands is idle, not slow.
        connection.Time.Elapse(TimeSpan.FromMinutes(1));
        Assert.False(read.IsCompleted);
        await connection.Pipe.SendAsync("next\n");
        Assert.Equal("next\n", System.Text.Encoding.ASCII.GetString(await read.Within()));
    }

    [Fact]
    public async Task MinReadRate_AMessageArrivingFastEnoughSurvives()
    {
        await using var connection = new WatchedConnection(l =>
            l.MinReadRate = new MinDataRate(bytesPerSecond: 100, gracePeriod: TimeSpan.FromSeconds(2)));
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        for (var i = 0; i < 10; i++)
        {
            await connection.Pipe.SendAsync(new string('a', 150));
            connection.Time.Elapse(Second);
        }

        await connection.Pipe.SendAsync("\n");
        Assert.Equal(1501, (await read.Within()).Length);
        Assert.Null(connection.Stream.ClosedByLimit);
    }
}
