using System.Text;
using System.Text.RegularExpressions;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>ReadUntilPatternAsync: Latin-1 byte matching, split matches, limits.</summary>
public partial class PatternReadTests
{
    [GeneratedRegex(@"\r?\n\r?\n")]
    private static partial Regex BlankLine();

    [GeneratedRegex("END[0-9]+;")]
    private static partial Regex Terminator();

    [Fact]
    public async Task ReadUntilPattern_ReturnsThroughTheEndOfTheMatch()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("head\r\n\r\nbody");

        Assert.Equal("head\r\n\r\n", Text(await connection.Stream.ReadUntilPatternAsync(BlankLine()).Within()));
        Assert.Equal("body", Text(await connection.Stream.ReadBytesAsync(4).Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_FindsMatchSplitAcrossSegments()
    {
        var connection = new PipeConnection();
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
        var connection = new PipeConnection();
        await connection.SendAsync(new byte[] { 0xC3, 0xA9, 0xFF, 0x00, (byte)'E', (byte)'N', (byte)'D', (byte)'7', (byte)';', 0x80 });

        var match = await connection.Stream.ReadUntilPatternAsync(Terminator()).Within();

        Assert.Equal(new byte[] { 0xC3, 0xA9, 0xFF, 0x00, (byte)'E', (byte)'N', (byte)'D', (byte)'7', (byte)';' }, match);
        Assert.Equal(new byte[] { 0x80 }, await connection.Stream.ReadBytesAsync(1).Within());
    }

    [Fact]
    public async Task ReadUntilPattern_MaxBytesExactlyMet_Succeeds()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("abEND1;");

        Assert.Equal("abEND1;", Text(await connection.Stream.ReadUntilPatternAsync(Terminator(), maxBytes: 7).Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_MatchEndingAtMaxBytesThatNeedsTheNextByte_Succeeds()
    {
        var connection = new PipeConnection();
        var read = connection.Stream.ReadUntilPatternAsync(new Regex("ab(?=;)"), maxBytes: 2).AsTask();

        await connection.SendAsync("ab");
        Assert.False(read.IsCompleted);
        await connection.SendAsync(";");

        Assert.Equal("ab", Text(await read.Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_MatchFarBeyondTheImmediateWindow_IsFoundWhenThePeerWaits()
    {
        var connection = new PipeConnection(maxBufferSize: 1024 * 1024);
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
        var connection = new PipeConnection();
        await connection.SendAsync("abcEND1;");

        await Assert.ThrowsAsync<UnsatisfiableReadException>(() => connection.Stream.ReadUntilPatternAsync(Terminator(), maxBytes: 7).Within());
        Assert.True(connection.Stream.IsClosed);
    }

    [Fact]
    public async Task ReadUntilPattern_MoreThanMaxBufferSize_ClosesWithBufferFullCause()
    {
        var connection = new PipeConnection(maxBufferSize: 16);
        var read = connection.Stream.ReadUntilPatternAsync(Terminator()).AsTask();

        await connection.SendAsync(new string('x', 17));

        var error = await Assert.ThrowsAsync<StreamClosedException>(() => read.Within());
        Assert.IsType<StreamBufferFullException>(error.InnerException);
    }

    [Fact]
    public async Task ReadUntilPattern_PeerFinBeforeMatch_LeavesBytesForReadUntilClose()
    {
        var connection = new PipeConnection();
        await connection.SendAsync("no terminator");
        connection.SendFin();

        await Assert.ThrowsAsync<StreamClosedException>(() => connection.Stream.ReadUntilPatternAsync(Terminator()).Within());
        Assert.Equal("no terminator", Text(await connection.Stream.ReadUntilCloseAsync().Within()));
    }

    [Fact]
    public async Task ReadUntilPattern_WhileAnotherReadIsPending_Throws()
    {
        var connection = new PipeConnection();
        var first = connection.Stream.ReadUntilAsync("\n").AsTask();

        Assert.Throws<InvalidOperationException>(() => StartPatternRead(connection.Stream));
        await connection.SendAsync("x\n");
        Assert.Equal("x\n", Text(await first.Within()));
    }

    [Fact]
    public void ReadUntilPattern_RightToLeft_IsRejected()
    {
        var connection = new PipeConnection();

        Assert.Throws<ArgumentException>(() => StartRead(connection.Stream, new Regex("x", RegexOptions.RightToLeft)));
        Assert.False(connection.Stream.IsReading);
    }

    private static void StartPatternRead(IOStream stream) => StartRead(stream, Terminator());

    private static void StartRead(IOStream stream, Regex pattern) => _ = stream.ReadUntilPatternAsync(pattern).AsTask();

    private static string Text(byte[] bytes) => Encoding.Latin1.GetString(bytes);
}
