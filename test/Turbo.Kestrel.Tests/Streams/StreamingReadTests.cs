using System.Text;
using Turbo.Kestrel.Testing;
using Turbo.Kestrel.Tests.Streams.Transports;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>Streaming reads: the chunk is the callback's only argument, and the chunks add up to the data; over each transport.</summary>
public abstract class StreamingReadTests(StreamTransport transport)
{
    [Fact]
    public async Task ReadBytesStreaming_ChunksSumToCountAndLeaveTheRest()
    {
        await using var connection = await ConnectAsync();
        var received = new MemoryStream();
        var chunks = 0;
        var read = connection.Stream.ReadBytesAsync(20, chunk =>
        {
            chunks++;
            received.Write(chunk.Span);
            return ValueTask.CompletedTask;
        }).AsTask();

        await connection.SendAsync("01234567");
        await connection.SendAsync("89abcdef");
        await connection.SendAsync("ghijKLMN");
        await read.Within();

        Assert.Equal("0123456789abcdefghij", Encoding.ASCII.GetString(received.ToArray()));
        Assert.True(chunks >= 1);
        Assert.Equal("KLMN", Encoding.ASCII.GetString(await connection.Stream.ReadBytesAsync(4).Within()));
    }

    [Fact]
    public async Task ReadBytesStreaming_WaitsForEachCallbackBeforeTheNextChunk()
    {
        await using var connection = await ConnectAsync();
        var inCallback = 0;
        var overlapped = false;
        var read = connection.Stream.ReadBytesAsync(6, async chunk =>
        {
            overlapped |= Interlocked.Increment(ref inCallback) > 1;
            await Task.Yield();
            Interlocked.Decrement(ref inCallback);
        }).AsTask();

        await connection.SendAsync("ab");
        await connection.SendAsync("cd");
        await connection.SendAsync("ef");
        await read.Within();

        Assert.False(overlapped);
    }

    [Fact]
    public async Task ReadBytesStreaming_PeerFinBeforeCount_Throws()
    {
        await using var connection = await ConnectAsync();
        var seen = 0;
        var read = connection.Stream.ReadBytesAsync(10, chunk =>
        {
            seen += chunk.Length;
            return ValueTask.CompletedTask;
        }).AsTask();

        await connection.SendAsync("abc");
        await connection.SendFinAsync();

        await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.Equal(3, seen);
    }

    [Fact]
    public async Task ReadUntilCloseStreaming_DeliversEverythingUntilFin()
    {
        await using var connection = await ConnectAsync(4);
        var received = new MemoryStream();
        var read = connection.Stream.ReadUntilCloseAsync(chunk =>
        {
            received.Write(chunk.Span);
            return ValueTask.CompletedTask;
        }).AsTask();

        await connection.SendAsync("more than ");
        await connection.SendAsync("MaxBufferSize bytes");
        Assert.False(read.IsCompleted);
        await connection.SendFinAsync();
        await read.Within();

        Assert.Equal("more than MaxBufferSize bytes", Encoding.ASCII.GetString(received.ToArray()));
    }

    [Fact]
    public async Task ReadUntilCloseStreaming_CallbackExceptionReachesTheCaller()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilCloseAsync(_ => throw new InvalidDataException("bad chunk")).AsTask();

        await connection.SendAsync("x");

        await Assert.ThrowsAsync<InvalidDataException>(() => read.Within());
        Assert.False(connection.Stream.IsReading);
    }

    [Fact]
    public async Task ReadBytesStreaming_Zero_CompletesWithoutCallback()
    {
        await using var connection = await ConnectAsync();
        var called = false;

        await connection.Stream.ReadBytesAsync(0, _ =>
        {
            called = true;
            return ValueTask.CompletedTask;
        }).Within();

        Assert.False(called);
    }

    /// <summary>Streaming reads, over in-memory pipes.</summary>
    public sealed class InMemory() : StreamingReadTests(StreamTransport.InMemory);

    /// <summary>Streaming reads, over TCP on 127.0.0.1.</summary>
    public sealed class Tcp() : StreamingReadTests(StreamTransport.Tcp);

    /// <summary>Streaming reads, over TLS on 127.0.0.1.</summary>
    public sealed class Tls() : StreamingReadTests(StreamTransport.Tls);

    private Task<ITestPeer> ConnectAsync(long maxBufferSize = 1024 * 1024) => transport.ConnectAsync(maxBufferSize);

}
