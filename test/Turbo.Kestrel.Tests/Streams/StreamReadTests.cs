using System.Text;
using Turbo.Kestrel.Testing;
using Turbo.Kestrel.Tests.Streams.Transports;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// IOStream read, close and write semantics, the same cases over each transport (<see cref="StreamTransport"/>). In
/// memory the test decides exactly how the bytes are split into reads; over TCP and TLS they arrive as the kernel and
/// Kestrel deliver them, and the results must be the same.
/// </summary>
public abstract class StreamReadTests(StreamTransport transport)
{
    [Fact]
    public async Task ReadUntil_FindsDelimiterSplitAcrossThreeSegments()
    {
        await using var connection = await ConnectAsync();
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
        await using var connection = await ConnectAsync();
        await connection.SendAsync("one\ntwo\nthree\n");

        Assert.Equal("one\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        Assert.Equal("two\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        Assert.Equal("three\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
    }

    [Fact]
    public async Task ReadUntil_FindsSelfOverlappingDelimiter()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilAsync("aab").AsTask();

        await connection.SendAsync("xaa");
        await connection.SendAsync("a");
        await connection.SendAsync("aby");

        Assert.Equal("xaaaab", Text(await read.Within()));
    }

    [Fact]
    public async Task ReadUntil_MaxBytesExactlyMet_Succeeds()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("12345\n");

        var line = await connection.Stream.ReadUntilAsync("\n", maxBytes: 6).Within();

        Assert.Equal("12345\n", Text(line));
        Assert.False(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task ReadUntil_MaxBytesExceeded_ThrowsUnsatisfiableAndClosesStream()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("123456\n");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => connection.Stream.ReadUntilAsync("\n", maxBytes: 6).Within());

        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task ReadUntil_MaxBytesExceededBeforeDelimiterArrives_FailsWithoutWaiting()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilAsync("\n", maxBytes: 4).AsTask();

        await connection.SendAsync("12345");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => read.Within());
    }

    [Fact]
    public async Task ReadUntil_MoreThanMaxBufferSize_ClosesWithBufferFullCause()
    {
        await using var connection = await ConnectAsync(10);
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
        await using var connection = await ConnectAsync(10);
        await connection.SendAsync("012345678\n");

        Assert.Equal("012345678\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
    }

    [Fact]
    public async Task ReadUntil_PeerFinMidRead_ThrowsAndLeavesBytesForReadUntilClose()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("a\nb\nc");
        await connection.SendFinAsync();

        Assert.Equal("a\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        Assert.Equal("b\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));
        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadUntilAsync("\n").Within());
        Assert.Equal("c", Text(await connection.Stream.ReadUntilCloseAsync().Within()));
    }

    [Fact]
    public async Task ReadUntil_SecondReadWhilePending_ThrowsAndFirstCompletes()
    {
        await using var connection = await ConnectAsync();
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
        await using var connection = await ConnectAsync();
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
        await using var connection = await ConnectAsync();
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
        await using var connection = await ConnectAsync();
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
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadBytesAsync(100, partial: true).AsTask();

        await connection.SendAsync("abc");

        Assert.Equal("abc", Text(await read.Within()));
    }

    [Fact]
    public async Task ReadBytes_PartialNeverReturnsMoreThanCount()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("abcdef");

        Assert.Equal("abcd", Text(await connection.Stream.ReadBytesAsync(4, partial: true).Within()));
        Assert.Equal("ef", Text(await connection.Stream.ReadBytesAsync(4, partial: true).Within()));
    }

    [Fact]
    public async Task ReadBytes_ZeroReturnsEmptyArray()
    {
        await using var connection = await ConnectAsync();

        Assert.Empty(await connection.Stream.ReadBytesAsync(0).Within());
    }

    [Fact]
    public async Task ReadBytes_PeerFinBeforeCount_ThrowsStreamClosed()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("abc");
        await connection.SendFinAsync();

        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadBytesAsync(4).Within());
        Assert.Equal("abc", Text(await connection.Stream.ReadUntilCloseAsync().Within()));
    }

    [Fact]
    public async Task ReadUntilClose_ReturnsEverythingUntilFin()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilCloseAsync().AsTask();

        await connection.SendAsync("one ");
        await connection.SendAsync("two");
        Assert.False(read.IsCompleted);
        await connection.SendFinAsync();

        Assert.Equal("one two", Text(await read.Within()));
    }

    [Fact]
    public async Task Close_FailsPendingReadWithStreamClosed()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilAsync("\n").AsTask();

        connection.Stream.Close();

        await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task WriteThenClose_DeliversEveryByteThenEnds()
    {
        await using var connection = await ConnectAsync();

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
        await using var connection = await ConnectAsync();
        var calls = 0;
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Stream.SetCloseCallback(() =>
        {
            Interlocked.Increment(ref calls);
            ran.TrySetResult();
        });

        await connection.SendFinAsync();
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
        await using var connection = await ConnectAsync();
        connection.Stream.Close();
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        connection.Stream.SetCloseCallback(() => ran.TrySetResult());

        await ran.Task.Within();
    }

    [Fact]
    public async Task Close_FailsPendingReadUntilCloseInsteadOfReturningPartialData()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilCloseAsync().AsTask();
        await connection.SendAsync("abc");

        connection.Stream.Close();

        await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
    }

    [Fact]
    public async Task SetMaxBufferSize_AppliesToTheNextRead()
    {
        await using var connection = await ConnectAsync(1024);
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
        await using var connection = await ConnectAsync();
        await connection.SendAsync(Encoding.UTF8.GetBytes("naïve→end→rest"));

        Assert.Equal("naïve→", Encoding.UTF8.GetString(await connection.Stream.ReadUntilAsync("→").Within()));
        Assert.Equal("end→", Encoding.UTF8.GetString(await connection.Stream.ReadUntilAsync("→").Within()));
    }

    [Fact]
    public async Task PeerFin_FiresClosedButLeavesTheWriteSideOpen()
    {
        await using var connection = await ConnectAsync();
        var closed = connection.Stream.Closed;

        await connection.SendFinAsync();

        await Task.Delay(Timeout.Infinite, closed).ContinueWith(_ => { }, TaskScheduler.Default).Within();
        Assert.False(connection.Stream.IsClosed);
        await connection.Stream.WriteAsync("reply after FIN").Within();
        connection.Stream.Close();
        Assert.Equal("reply after FIN", await connection.ReadServerOutputToEndAsync());
        Assert.True(connection.Stream.IsClosed);
    }

    /// <summary>Read, close and write semantics, over in-memory pipes.</summary>
    public sealed class InMemory() : StreamReadTests(StreamTransport.InMemory);

    /// <summary>Read, close and write semantics, over TCP on 127.0.0.1.</summary>
    public sealed class Tcp() : StreamReadTests(StreamTransport.Tcp);

    /// <summary>Read, close and write semantics, over TLS on 127.0.0.1.</summary>
    public sealed class Tls() : StreamReadTests(StreamTransport.Tls);

    private Task<ITestPeer> ConnectAsync(long maxBufferSize = 1024 * 1024) => transport.ConnectAsync(maxBufferSize);

    /// <summary>Starts a read and drops it: the synchronous part is what the caller tests.</summary>
    private static void StartRead(IOStream stream) => _ = stream.ReadBytesAsync(1).AsTask();

    private static string Text(byte[] bytes) => Encoding.Latin1.GetString(bytes);
}
