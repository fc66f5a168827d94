using Turbo.Kestrel;

namespace EchoBench;

/// <summary>The allocation-free Turbo echo: <c>ReadUntilAsync("\n", buffer)</c> into one reused buffer, then <c>WriteAsync</c>.</summary>
internal sealed class BufferLineEchoServer(IOLoop loop) : TcpServer(loop)
{
    private const int MaxLine = 1 << 20;
    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();

    protected override async Task HandleStreamAsync(IOStream stream, string address)
    {
        var buffer = new byte[MaxLine];
        try
        {
            while (true)
            {
                var length = await stream.ReadUntilAsync(NewLine, buffer).ConfigureAwait(false);
                await stream.WriteAsync(buffer.AsMemory(0, length)).ConfigureAwait(false);
            }
        }
        catch (StreamClosedException)
        {
            // The peer closed or reset: the echo is over.
        }
    }
}
