using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// <c>ReadUntilAsync(delimiter, destination)</c>: the allocation-free delimiter read. Same semantics as the
/// array-returning read, with the buffer's length as <c>maxBytes</c>.
/// </summary>
public class ReadIntoTests
{
    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();

    [Fact]
    public async Task PipelinedLines_AreReadOneByOneIntoTheBuffer_WithoutAllocating()
    {
        var connection = new PipeConnection();
        var stream = connection.Stream;
        var buffer = new byte[64];
        await connection.SendAsync(string.Concat(Enumerable.Range(0, 1000).Select(i => $"line {i:0000}\n")));

        // Warm the path once, then measure: lines served from the buffer complete at once, on this thread, and allocate nothing.
        Assert.Equal(10, await stream.ReadUntilAsync(NewLine, buffer));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var total = 0;
        for (var i = 1; i < 1000; i++)
        {
            total += await stream.ReadUntilAsync(NewLine, buffer);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(999 * 10, total);
        Assert.Equal("line 0999\n", Encoding.ASCII.GetString(buffer, 0, 10));
    }

    [Fact]
    public async Task ALineSplitAcrossReads_IsFound_AndALineOfExactlyTheBuffersLengthFits()
    {
        var connection = new PipeConnection();
        var buffer = new byte[8];
        var read = connection.Stream.ReadUntilAsync("\r\n"u8.ToArray(), buffer).AsTask();

        await connection.SendAsync("abc");
        await connection.SendAsync("def\r");
        Assert.False(read.IsCompleted);
        await connection.SendAsync("\nnext");

        Assert.Equal(8, await read.Within());
        Assert.Equal("abcdef\r\n", Encoding.ASCII.GetString(buffer));
        Assert.Equal("next", Encoding.ASCII.GetString(await connection.Stream.ReadBytesAsync(4).AsTask().Within()));
    }

    [Fact]
    public async Task ALineLongerThanTheBuffer_ThrowsUnsatisfiable_AndClosesTheStream()
    {
        var connection = new PipeConnection();
        var buffer = new byte[8];
        await connection.SendAsync("123456789\n");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => connection.Stream.ReadUntilAsync(NewLine, buffer).AsTask()).Within();

        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task TheFinBeforeTheDelimiter_ThrowsStreamClosed_AndLeavesTheBytesForReadUntilClose()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilAsync(NewLine, new byte[16]).AsTask();
        await connection.SendAsync("partial");
        connection.SendFin();

        await Assert.ThrowsAsync<StreamClosedException>(() => read).Within();
        Assert.Equal("partial", Encoding.ASCII.GetString(await connection.Stream.ReadUntilCloseAsync().AsTask().Within()));
    }

    [Fact]
    public async Task BadArguments_AreRefusedBeforeAnyRead()
    {
        var stream = new PipeConnection().Stream;

        await Assert.ThrowsAsync<ArgumentException>(async () => await stream.ReadUntilAsync(ReadOnlyMemory<byte>.Empty, new byte[4]));
        await Assert.ThrowsAsync<ArgumentException>(async () => await stream.ReadUntilAsync("\r\n"u8.ToArray(), new byte[1]));
        Assert.False(stream.IsReading);
    }
}
