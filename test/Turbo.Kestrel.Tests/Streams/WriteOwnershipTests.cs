using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// A write whose caller stops waiting (its token cancelled) is still sent in order, and from a copy: the caller's
/// buffer is the caller's again as soon as the call returned, as with every .NET stream.
/// </summary>
public class WriteOwnershipTests
{
    private const int Large = 1024 * 1024;

    [Fact]
    public async Task CancelledLargeWrite_IsSentWhole_AndNeverReadsTheCallersBufferAfterwards()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var buffer = Filled(Large, (byte)'a');
        using var cancel = new CancellationTokenSource();

        var write = connection.Stream.WriteAsync(buffer, cancel.Token).AsTask();
        Assert.False(write.IsCompleted); // the peer does not read: the write waits after its first pieces
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write).Within();

        Array.Fill(buffer, (byte)'b'); // the caller reuses its buffer
        connection.Stream.Close();
        var sent = await connection.ReadServerOutputToEndAsync();

        Assert.Equal(Large, sent.Length);
        Assert.DoesNotContain('b', sent);
    }

    [Fact]
    public async Task CancelledQueuedWrite_IsSentInOrder_FromACopy()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var first = connection.Stream.WriteAsync(Filled(Large, (byte)'a')).AsTask();
        Assert.False(first.IsCompleted);

        var buffer = Filled(10, (byte)'c');
        using var cancel = new CancellationTokenSource();
        var queued = connection.Stream.WriteAsync(buffer, cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued).Within();
        Array.Fill(buffer, (byte)'x');

        connection.Stream.Close();
        var sent = await connection.ReadServerOutputToEndAsync();

        await first.Within();
        Assert.Equal(new string('a', Large) + new string('c', 10), sent);
    }

    [Fact]
    public async Task UncancelledLargeWrite_CompletesOnceSentWhole()
    {
        var connection = new PipeConnection(pauseOutput: true);
        var write = connection.Stream.WriteAsync(Filled(Large, (byte)'a')).AsTask();
        Assert.False(write.IsCompleted);

        connection.Stream.Close();
        var sent = await connection.ReadServerOutputToEndAsync();

        await write.Within();
        Assert.Equal(Large, sent.Length);
    }

    private static byte[] Filled(int length, byte value)
    {
        var bytes = new byte[length];
        Array.Fill(bytes, value);
        return bytes;
    }
}
