using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// Answers to pipelined requests share a flush (one send per burst, not one per answer), and are never held back:
/// they leave before the handler waits for input, when it waits for anything else, and before a close.
/// </summary>
public class WriteCoalescingTests
{
    [Fact]
    public async Task SixteenPipelinedLines_AreAnsweredInOneFlush()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        await connection.SendAsync(string.Concat(Enumerable.Range(0, 16).Select(i => $"line {i:00}\n")));

        for (var i = 0; i < 16; i++)
        {
            var line = await stream.ReadUntilAsync("\n").Within();
            await stream.WriteAsync(line).Within();
        }

        // One flush, with the last answer. An idle thread-pool thread may steal the queued safety flush and run it
        // mid-burst, which costs an extra flush but never an answer: allow for that, not for a flush per answer.
        Assert.InRange(connection.ServerFlushes, 1, 3);
        var expected = string.Concat(Enumerable.Range(0, 16).Select(i => $"line {i:00}\n"));
        Assert.Equal(expected, await connection.PeekServerOutputAsync(expected.Length));
    }

    [Fact]
    public async Task OneRequestAtATime_EachAnswerIsFlushedAtOnce()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;

        for (var i = 1; i <= 3; i++)
        {
            await connection.SendAsync("ping\n");
            var line = await stream.ReadUntilAsync("\n").Within();
            await stream.WriteAsync(line).Within();
            Assert.Equal(i, connection.ServerFlushes);
        }
    }

    [Fact]
    public async Task AnAnswerDeferredBehindPipelinedInput_LeavesWhenTheHandlerWaitsForSomethingElse()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await connection.SendAsync("first\nsecond\n");

        var handler = Task.Run(async () =>
        {
            var line = await stream.ReadUntilAsync("\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes("answer to " + Encoding.ASCII.GetString(line)));
            await release.Task; // a database call, say: no read follows the write
        });

        Assert.Equal("answer to first\n", await connection.PeekServerOutputAsync("answer to first\n".Length));
        Assert.False(handler.IsCompleted);
        release.SetResult();
        await handler.Within();
    }

    [Fact]
    public async Task AnAnswerDeferredBehindPipelinedInput_Leaves_EvenWhileTheHandlerBlocksWhereTheReadWokeIt()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        var read = stream.ReadUntilAsync("\n").AsTask(); // waits for the transport

        // The handler resumes inline, inside the transport's delivery of the bytes, answers (deferred: a second
        // request is buffered) and then blocks there, as sync-over-async code would.
        var seen = read.ContinueWith(
            r =>
            {
                stream.WriteAsync(r.Result).AsTask().GetAwaiter().GetResult();
                return connection.PeekServerOutputAsync("first\n".Length).Wait(TimeSpan.FromSeconds(10));
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        // Delivered on a thread-pool thread, as with the default scheduling (on the runtime's socket thread, with
        // inline completions, a blocking handler stalls every connection anyway: documented under InlineScheduling).
        await Task.Run(() => connection.SendAsync("first\nsecond\n"));

        Assert.True(await seen.Within(), "the deferred answer was not sent while the handler blocked");
    }

    [Fact]
    public async Task AnAnswerDeferredBehindPipelinedInput_LeavesBeforeTheReadThatWaits()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        await connection.SendAsync("one\ntw");

        var first = await stream.ReadUntilAsync("\n").Within();
        await stream.WriteAsync(first).Within();
        var second = stream.ReadUntilAsync("\n").AsTask(); // "tw" is not a line: this read waits

        Assert.Equal("one\n", await connection.PeekServerOutputAsync(4));
        await connection.SendAsync("o\n");
        Assert.Equal("two\n", Encoding.ASCII.GetString(await second.Within()));
    }

    [Fact]
    public async Task CloseAfterADeferredAnswer_SendsItThenTheEnd()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        await connection.SendAsync("bye\nignored\n");

        var line = await stream.ReadUntilAsync("\n").Within();
        await stream.WriteAsync(line).Within();
        stream.Close();

        Assert.Equal("bye\n", await connection.ReadServerOutputToEndAsync());
    }

    [Fact]
    public async Task DeferredAnswersThenALargeWrite_KeepTheirOrder()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        await connection.SendAsync("a\nb\nc\n");
        var large = new string('x', 200_000) + "\n";

        await stream.WriteAsync(await stream.ReadUntilAsync("\n").Within()).Within();
        await stream.WriteAsync(await stream.ReadUntilAsync("\n").Within()).Within();
        await stream.WriteAsync(large).Within();
        await stream.WriteAsync(await stream.ReadUntilAsync("\n").Within()).Within();
        stream.Close();

        Assert.Equal("a\nb\n" + large + "c\n", await connection.ReadServerOutputToEndAsync());
    }
}
