using Turbo.Kestrel;

namespace EchoBench;

/// <summary>The Turbo echo: <c>ReadUntilAsync("\n")</c>, then <c>WriteAsync</c> of the line, until the peer closes.</summary>
internal sealed class LineEchoServer(IOLoop loop) : TcpServer(loop, maxBufferSize: 1 << 20)
{
    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();

    protected override async Task HandleStreamAsync(IOStream stream, string address)
    {
        try
        {
            while (true)
            {
                var line = await stream.ReadUntilAsync(NewLine).ConfigureAwait(false);
                await stream.WriteAsync(line).ConfigureAwait(false);
            }
        }
        catch (StreamClosedException)
        {
            // The peer closed or reset: the echo is over.
        }
    }
}
