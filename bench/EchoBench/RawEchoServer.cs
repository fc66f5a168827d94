using Turbo.Kestrel;

namespace EchoBench;

/// <summary>Echoes bytes as they arrive: each chunk the transport delivers is written back before the next is read.</summary>
internal sealed class RawEchoServer(IOLoop loop) : TcpServer(loop)
{
    protected override async Task HandleStreamAsync(IOStream stream, string address)
    {
        try
        {
            await stream.ReadUntilCloseAsync(chunk => stream.WriteAsync(chunk)).ConfigureAwait(false);
        }
        catch (StreamClosedException)
        {
            // The peer reset: the benchmark's connections end that way.
        }
    }
}
