using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>IOStream read semantics with the test as the transport: exact segmentation, no timing.</summary>
public class StreamReadTests
{
    [Fact]
    public async Task ReadUntil_FindsDelimiterSplitAcrossThreeSegments()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilAsync("\r\n\r\n").AsTask();

        await connection.SendAsync("header\r");
        await connection.SendAsync("\n\r");
        Assert.False(read.IsCompleted);
        await connection.SendAsync("\nbody");

        Assert.Equal("header\r\n\r\n", Text(await read.Within()));
        Assert.Equal("body", Text(await connection.Stream.ReadBytesAsync(4).Within()));
    }

    [Fact]
    public async Task ReadUntil_ReturnsPipelinedLinesOneByOne()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("one\ntwo\nthree\n");

        Assert.Equal("one\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        Assert.Equal("two\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        Assert.Equal("three\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
    }

    [Fact]
    public async Task ReadUntil_FindsSelfOverlappingDelimiter()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilAsync("aab").AsTask();

        await connection.SendAsync("xaa");
        await connection.SendAsync("a");
        await connection.SendAsync("aby");

        Assert.Equal("xaaaab", Text(await read.Within()));
    }

    [Fact]
    public async Task ReadUntil_MaxBytesExactlyMet_Succeeds()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("12345\n");

        var line = await connection.Stream.ReadUntilAsync("\n", maxBytes: 6).Within();

        Assert.Equal("12345\n", Text(line));
        Assert.False(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task ReadUntil_MaxBytesExceeded_ThrowsUnsatisfiableAndClosesStream()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("123456\n");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => connection.Stream.ReadUntilAsync("\n", maxBytes: 6).Within());

        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task ReadUntil_MaxBytesExceededBeforeDelimiterArrives_FailsWithoutWaiting()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilAsync("\n", maxBytes: 4).AsTask();

        await connection.SendAsync("12345");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => read.Within());
    }

    [Fact]
    public async Task ReadUntil_MoreThanMaxBufferSize_ClosesWithBufferFullCause()
    {
        var connection = new PipeConnection(maxBufferSize: 10);
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        await connection.SendAsync("0123456789");
        Assert.False(read.IsCompleted);
        await connection.SendAsync("A");

        var error = await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.IsType<StreamBufferFullException>(error.InnerException);
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task ReadUntil_LineOfExactlyMaxBufferSize_Fits()
    {
        var connection = new PipeConnection(maxBufferSize: 10);
        await connection.SendAsync("012345678\n");

        Assert.Equal("012345678\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
    }

    [Fact]
    public async Task ReadUntil_PeerFinMidRead_ThrowsAndLeavesBytesForReadUntilClose()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("a\nb\nc");
        connection.SendFin();

        Assert.Equal("a\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        Assert.Equal("b\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadUntilAsync("\n").Within());
        Assert.Equal("c", Text(await connection.Stream.ReadUntilCloseAsync().Within()));
    }

    [Fact]
    public async Task ReadUntil_SecondReadWhilePending_ThrowsAndFirstCompletes()
    {
        var connection = new PipeConnection();
        var first = connection.Stream.ReadUntilAsync("\n").AsTask();

        Assert.True(connection.Stream.IsReading);
        Assert.Throws<InvalidOperationException>(() => StartRead(connection.Stream));
        await connection.SendAsync("line\n");

        Assert.Equal("line\n", Text(await first.Within()));
        Assert.False(connection.Stream.IsReading);
    }

    [Fact]
    public async Task ReadUntil_Cancelled_KeepsBytesForNextRead()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("partial");
        using var cancel = new CancellationTokenSource();
        var read = connection.Stream.ReadUntilAsync("\n", cancellationToken: cancel.Token).AsTask();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.Within());
        await connection.SendAsync(" line\n");
        Assert.Equal("partial line\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
    }

    [Fact]
    public async Task ReadUntil_AfterACancelledRead_IsServedFromTheBufferWithoutNewBytes()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("abc\ndef");
        using var cancel = new CancellationTokenSource();
        var waiting = connection.Stream.ReadUntilAsync("X", cancellationToken: cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Within());

        Assert.Equal("abc\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        Assert.Equal("def", Text(await connection.Stream.ReadBytesAsync(3).Within()));
    }

    [Fact]
    public async Task ReadBytes_ExactCountWaitsForAllBytesAndLeavesTheRest()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadBytesAsync(5).AsTask();

        await connection.SendAsync("12");
        Assert.False(read.IsCompleted);
        await connection.SendAsync("345678");

        Assert.Equal("12345", Text(await read.Within()));
        Assert.Equal("678", Text(await connection.Stream.ReadBytesAsync(3).Within()));
    }

    [Fact]
    public async Task ReadBytes_PartialReturnsWhatIsThere()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadBytesAsync(100, partial: true).AsTask();

        await connection.SendAsync("abc");

        Assert.Equal("abc", Text(await read.Within()));
    }

    [Fact]
    public async Task ReadBytes_PartialNeverReturnsMoreThanCount()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("abcdef");

        Assert.Equal("abcd", Text(await connection.Stream.ReadBytesAsync(4, partial: true).Within()));
        Assert.Equal("ef", Text(await connection.Stream.ReadBytesAsync(4, partial: true).Within()));
    }

    [Fact]
    public async Task ReadBytes_ZeroReturnsEmptyArray()
    {
        var connection = new PipeConnection();

        Assert.Empty(await connection.Stream.ReadBytesAsync(0).Within());
    }

    [Fact]
    public async Task ReadBytes_PeerFinBeforeCount_ThrowsStreamClosed()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("abc");
        connection.SendFin();

        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadBytesAsync(4).Within());
        Assert.Equal("abc", Text(await connection.Stream.ReadUntilCloseAsync().Within()));
    }

    [Fact]
    public async Task ReadUntilClose_ReturnsEverythingUntilFin()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilCloseAsync().AsTask();

        await connection.SendAsync("one ");
        await connection.SendAsync("two");
        Assert.False(read.IsCompleted);
        connection.SendFin();

        Assert.Equal("one two", Text(await read.Within()));
    }

    [Fact]
    public async Task Close_FailsPendingReadWithStreamClosed()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        connection.Stream.Close();

        await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task WriteThenClose_DeliversEveryByteThenEnds()
    {
        var connection = new PipeConnection();

        await connection.Stream.WriteAsync("hello ").Within();
        var queued = connection.Stream.WriteAsync("world").AsTask();
        connection.Stream.Close();

        Assert.Equal("hello world", await connection.ReadServerOutputToEndAsync());
        await queued.Within();
        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.WriteAsync("late").Within());
    }

    [Fact]
    public async Task CloseCallback_RunsOnceWhenPeerClosesWithoutAnyRead()
    {
        var connection = new PipeConnection();
        var calls = 0;
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Stream.SetCloseCallback(() =>
        {
            Interlocked.Increment(ref calls);
            ran.TrySetResult();
        });

        connection.SendFin();
        await ran.Task.Within();
        connection.Stream.Close();
        connection.Stream.Abort();
        await connection.Stream.WriteAsync("x").AsTask().ContinueWith(_ => { }, TaskScheduler.Default).Within();

        // A second call would have been queued to the thread pool by the events above; a sentinel callback
        // queued after them runs after it.
        await Handlers.CloseCallbackSentinelAsync(connection.Stream);
        Assert.Equal(1, Volatile.Read(ref calls));
        Assert.True(connection.Stream.Closed.IsCancellationRequested);
    }

    [Fact]
    public async Task CloseCallback_SetAfterCloseRunsAtOnce()
    {
        var connection = new PipeConnection();
        connection.Stream.Close();
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        connection.Stream.SetCloseCallback(() => ran.TrySetResult());

        await ran.Task.Within();
    }

    [Fact]
    public async Task Close_FailsPendingReadUntilCloseInsteadOfReturningPartialData()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilCloseAsync().AsTask();
        await connection.SendAsync("abc");

        connection.Stream.Close();

        await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
    }

    [Fact]
    public async Task Abort_WithWritesPending_FailsThemAndClearsIsWriting()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var first = connection.Stream.WriteAsync(new byte[1024 * 1024]).AsTask();
        var second = connection.Stream.WriteAsync(new byte[10]).AsTask();
        Assert.True(connection.Stream.IsWriting);

        connection.Stream.Abort();

        await Assert.ThrowsAsync<StreamClosedException>(() => first.Within());
        await Assert.ThrowsAsync<StreamClosedException>(() => second.Within());
        Assert.False(connection.Stream.IsWriting);
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task Write_TransportFailingWithAnyException_FailsPendingWritesAndLetsCloseFinish()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var first = connection.Stream.WriteAsync(new byte[1024 * 1024]).AsTask();
        var second = connection.Stream.WriteAsync(new byte[10]).AsTask();

        connection.FailServerOutput(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("transport gone"));

        await Assert.ThrowsAsync<StreamClosedException>(() => first.Within());
        await Assert.ThrowsAsync<StreamClosedException>(() => second.Within());
        await connection.Stream.CloseCoreAsync().Within();
        Assert.False(connection.Stream.IsWriting);
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task Read_AfterTheHandlerFinished_ThrowsStreamClosed()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("a\nleft over");
        Assert.Equal("a\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));

        await connection.Stream.FinishAsync().Within();

        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadBytesAsync(4).Within());
    }

    [Fact]
    public async Task SetMaxBufferSize_AppliesToTheNextRead()
    {
        var connection = new PipeConnection(maxBufferSize: 1024);
        connection.Stream.SetMaxBufferSize(8);
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        await connection.SendAsync("123456789");

        var error = await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.IsType<StreamBufferFullException>(error.InnerException);
        Assert.Equal(8, connection.Stream.MaxBufferSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => connection.Stream.SetMaxBufferSize(0));
    }

    [Fact]
    public async Task ReadUntil_StringDelimiterIsUtf8()
    {
        var connection = new PipeConnection();
        await connection.SendAsync(Encoding.UTF8.GetBytes("naïve→end→rest"));

        Assert.Equal("naïve→", Encoding.UTF8.GetString(await connection.Stream.ReadUntilAsync("→").Within()));
        Assert.Equal("end→", Encoding.UTF8.GetString(await connection.Stream.ReadUntilAsync("→").Within()));
    }

    [Fact]
    public async Task PeerFin_FiresClosedButLeavesTheWriteSideOpen()
    {
        var connection = new PipeConnection();
        var closed = connection.Stream.Closed;

        connection.SendFin();

        await Task.Delay(Timeout.Infinite, closed).ContinueWith(_ => { }, TaskScheduler.Default).Within();
        Assert.False(connection.Stream.IsClosed);
        await connection.Stream.WriteAsync("reply after FIN").Within();
        connection.Stream.Close();
        Assert.Equal("reply after FIN", await connection.ReadServerOutputToEndAsync());
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task Write_CancelledWhileWaiting_StillSendsItsBytesInOrder()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var big = connection.Stream.WriteAsync(new byte[256 * 1024]).AsTask();
        using var cancel = new CancellationTokenSource();
        var small = connection.Stream.WriteAsync("tail", cancel.Token).AsTask();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => small.Within());
        connection.Stream.Close();
        var output = await connection.ReadServerOutputToEndAsync();
        await big.Within();
        Assert.Equal(256 * 1024 + 4, output.Length);
        Assert.EndsWith("tail", output, StringComparison.Ordinal);
    }

    /// <summary>Starts a read and drops it: the synchronous part is what the caller tests.</summary>
    private static void StartRead(IOStream stream) => _ = stream.ReadBytesAsync(1).AsTask();

    private static string Text(byte[] bytes) => Encoding.Latin1.GetString(bytes);
}
