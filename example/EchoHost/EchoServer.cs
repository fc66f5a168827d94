using Turbo.Kestrel;

namespace EchoHost;

/// <summary>A line echo server: every line the client sends comes back.</summary>
public sealed class EchoServer : TcpServer
{
    /// <summary>The longest line accepted; a longer one closes the connection.</summary>
    private const int MaxLineBytes = 64 * 1024;

    /// <inheritdoc />
    protected override async Task HandleStreamAsync(IOStream stream, string address)
    {
        // ClosingRequested fires when the host stops: the pending read ends and the handler returns.
        while (true)
        {
            var line = await stream.ReadUntilAsync("\n", MaxLineBytes, stream.ClosingRequested);
            await stream.WriteAsync(line);
        }
    }
}
