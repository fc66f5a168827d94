using System.Text;
using System.Text.RegularExpressions;
using Turbo.Kestrel.Testing;
using Turbo.Kestrel.Tests.Streams.Transports;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>ReadUntilPatternAsync: Latin-1 byte matching, split matches, limits; over each transport.</summary>
public abstract partial class PatternReadTests(StreamTransport transport)
{
    [GeneratedRegex(@"\r?\n\r?\n")]
    private static partial Regex BlankLine();

    [GeneratedRegex("END[0-9]+;")]
    private static partial Regex Terminator();

    [Fact]
    public async Task ReadUntilPattern_ReturnsThroughTheEndOfTheMatch()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("head\r\n\r\nbody");

        Assert.Equal("head\r\n\r\n", Text(await connection.Stream.ReadUntilPatternAsync(BlankLine()).Within()));
        Assert.Equal("body", Text(await connection.Stream.ReadBytesAsync(4).Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_FindsMatchSplitAcrossSegments()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilPatternAsync(Terminator()).AsTask();

        await connection.SendAsync("data E");
        await connection.SendAsync("ND4");
        Assert.False(read.IsCompleted);
        await connection.SendAsync("2;rest");

        Assert.Equal("data END42;", Text(await read.Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_OffsetsAreByteOffsetsForNonAsciiBytes()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync(new byte[] { 0xC3, 0xA9, 0xFF, 0x00, (byte)'E', (byte)'N', (byte)'D', (byte)'7', (byte)';', 0x80 });

        var match = await connection.Stream.ReadUntilPatternAsync(Terminator()).Within();

        Assert.Equal(new byte[] { 0xC3, 0xA9, 0xFF, 0x00, (byte)'E', (byte)'N', (byte)'D', (byte)'7', (byte)';' }, match);
        Assert.Equal(new byte[] { 0x80 }, await connection.Stream.ReadBytesAsync(1).Within());
    }

    [Fact]
    public async Task ReadUntilPattern_MaxBytesExactlyMet_Succeeds()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("abEND1;");

        Assert.Equal("abEND1;", Text(await connection.Stream.ReadUntilPatternAsync(Terminator(), maxBytes: 7).Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_MatchEndingAtMaxBytesThatNeedsTheNextByte_Succeeds()
    {
        await using var connection = await ConnectAsync();
        var read = connection.Stream.ReadUntilPatternAsync(new Regex("ab(?=;)"), maxBytes: 2).AsTask();

        await connection.SendAsync("ab");
        Assert.False(read.IsCompleted);
        await connection.SendAsync(";");

        Assert.Equal("ab", Text(await read.Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_MatchFarBeyondTheImmediateWindow_IsFoundWhenThePeerWaits()
    {
        await using var connection = await ConnectAsync(1024 * 1024);
        var read = connection.Stream.ReadUntilPatternAsync(Terminator()).AsTask();

        // 100 KiB arrives in 4 KiB reads, the match in the last one; then the peer waits for a reply.
        for (var i = 0; i < 25; i++)
        {
            await connection.SendAsync(new string('x', 4096));
        }

        await connection.SendAsync("END9;");

        var match = await read.Within();
        Assert.Equal((25 * 4096) + 5, match.Length);
    }

    [Fact]
    public async Task ReadUntilPattern_MaxBytesExceeded_ThrowsUnsatisfiableAndCloses()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("abcEND1;");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => connection.Stream.ReadUntilPatternAsync(Terminator(), maxBytes: 7).Within());
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task ReadUntilPattern_MoreThanMaxBufferSize_ClosesWithBufferFullCause()
    {
        await using var connection = await ConnectAsync(16);
        var read = connection.Stream.ReadUntilPatternAsync(Terminator()).AsTask();

        await connection.SendAsync(new string('x', 17));

        var error = await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.IsType<StreamBufferFullException>(error.InnerException);
    }

    [Fact]
    public async Task ReadUntilPattern_PeerFinBeforeMatch_LeavesBytesForReadUntilClose()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("no terminator");
        await connection.SendFinAsync();

        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadUntilPatternAsync(Terminator()).Within());
        Assert.Equal("no terminator", Text(await connection.Stream.ReadUntilCloseAsync().Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_WhileAnotherReadIsPending_Throws()
    {
        await using var connection = await ConnectAsync();
        var first = connection.Stream.ReadUntilAsync("\n").AsTask();

        Assert.Throws<InvalidOperationException>(() => StartPatternRead(connection.Stream));
        await connection.SendAsync("x\n");
        Assert.Equal("x\n", Text(await first.Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_MatchingTheEmptyString_CompletesAtOnceOverWhatIsHeld()
    {
        await using var connection = await ConnectAsync();
        await connection.SendAsync("a\n");
        Assert.Equal("a\n", Text(await connection.Stream.ReadUntilAsync("\n").Within()));

        // Every byte received has been read: an empty match is found in what is held, without waiting for more.
        Assert.Empty(await connection.Stream.ReadUntilPatternAsync(new Regex("x*")).Within());
    }

    [Fact]
    public async Task ReadUntilPattern_RightToLeft_IsRejected()
    {
        await using var connection = await ConnectAsync();

        Assert.Throws<ArgumentException>(() => StartRead(connection.Stream, new Regex("x", RegexOptions.RightToLeft)));
        Assert.False(connection.Stream.IsReading);
    }

    /// <summary>Pattern reads, over in-memory pipes.</summary>
    public sealed class InMemory() : PatternReadTests(StreamTransport.InMemory);

    /// <summary>Pattern reads, over TCP on 127.0.0.1.</summary>
    public sealed class Tcp() : PatternReadTests(StreamTransport.Tcp);

    /// <summary>Pattern reads, over TLS on 127.0.0.1.</summary>
    public sealed class Tls() : PatternReadTests(StreamTransport.Tls);

    private Task<ITestPeer> ConnectAsync(long maxBufferSize = 1024 * 1024) => transport.ConnectAsync(maxBufferSize);

    private static void StartPatternRead(IOStream stream) => StartRead(stream, Terminator());

    private static void StartRead(IOStream stream, Regex pattern) => _ = stream.ReadUntilPatternAsync(pattern).AsTask();

    private static string Text(byte[] bytes) => Encoding.Latin1.GetString(bytes);
}
