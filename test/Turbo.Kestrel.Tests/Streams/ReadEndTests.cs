using System.Runtime.ExceptionServices;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// How a waiting read ends when the stream ends: with <see cref="StreamClosedException"/>, thrown in the caller's await
/// and not before. Exceptions are the dearest part of a connection's normal end, so the library does not throw it itself.
/// </summary>
public class ReadEndTests
{
    [Fact]
    public async Task PeerFin_EndsAWaitingRead_WithoutTheLibraryThrowing()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilAsync("\n");
        Assert.False(read.IsCompleted);

        // The transport delivers the FIN inline: the read ends inside this call, on this thread.
        var thrown = ThrowsOnThisThread(connection.SendFin);

        Assert.True(read.IsCompleted);
        Assert.Equal(0, thrown);
        var error = await Assert.ThrowsAsync<StreamClosedException>(async () => await read).Within();
        Assert.Contains("closed the connection", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PeerReset_EndsAWaitingRead_WithoutTheLibraryThrowing()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadBytesAsync(10);
        Assert.False(read.IsCompleted);

        var thrown = ThrowsOnThisThread(() => connection.FailServerInput(new IOException("Connection reset by peer")));

        Assert.True(read.IsCompleted);
        Assert.Equal(0, thrown);
        var error = await Assert.ThrowsAsync<StreamClosedException>(async () => await read).Within();
        Assert.IsType<IOException>(error.InnerException);
    }

    [Fact]
    public async Task AHundredWaitingReadsInARow_EachGetsItsOwnLine()
    {
        var connection = new PipeConnection();
        for (var i = 0; i < 100; i++)
        {
            var read = connection.Stream.ReadUntilAsync("\n").AsTask();
            Assert.False(read.IsCompleted);
            await connection.SendAsync($"line {i}\n");
            Assert.Equal($"line {i}\n", System.Text.Encoding.ASCII.GetString(await read.Within()));
        }
    }

    /// <summary>How many <see cref="StreamClosedException"/>s are thrown on this thread while <paramref name="action"/> runs.</summary>
    private static int ThrowsOnThisThread(Action action)
    {
        var thread = Environment.CurrentManagedThreadId;
        var thrown = 0;
        void OnThrow(object? sender, FirstChanceExceptionEventArgs e)
        {
            if (Environment.CurrentManagedThreadId == thread && e.Exception is StreamClosedException)
            {
                thrown++;
            }
        }

        AppDomain.CurrentDomain.FirstChanceException += OnThrow;
        try
        {
            action();
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= OnThrow;
        }

        return thrown;
    }
}
