using System.Text;
using Turbo.Kestrel.Testing;
using Turbo.Kestrel.Tests.Streams.Transports;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// <c>ReadUntilAsync(delimiter, destination)</c>: the allocation-free delimiter read. Same semantics as the
/// array-returning read, with the buffer's length as <c>maxBytes</c>; over each transport.
/// </summary>
public abstract class ReadIntoTests(StreamTransport transport)
{
    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();

    [Fact]
    public async Task ALineSplitAcrossReads_IsFound_AndALineOfExactlyTheBuffersLengthFits()
    {
        await using var connection = await ConnectAsync();
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
        await using var connection = await ConnectAsync();
        var buffer = new byte[8];
        await connection.SendAsync("123456789\n");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => connection.Stream.ReadUntilAsync(NewLine, buffer).AsTask()).Within();

        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task TheFinBeforeTheDelimiter_ThrowsStreamClosed_AndLeavesTheBytesForReadUntilClose()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilAsync(NewLine, new byte[16]).AsTask();
        await connection.SendAsync("partial");
        await connection.SendFinAsync();

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

    /// <summary>Reads into the caller's buffer, over in-memory pipes.</summary>
    public sealed class InMemory() : ReadIntoTests(StreamTransport.InMemory);

    /// <summary>Reads into the caller's buffer, over TCP on 127.0.0.1.</summary>
    public sealed class Tcp() : ReadIntoTests(StreamTransport.Tcp);

    /// <summary>Reads into the caller's buffer, over TLS on 127.0.0.1.</summary>
    public sealed class Tls() : ReadIntoTests(StreamTransport.Tls);

    private Task<ITestPeer> ConnectAsync(long maxBufferSize = 1024 * 1024) => transport.ConnectAsync(maxBufferSize);
}
