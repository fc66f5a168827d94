namespace Turbo.Kestrel.Testing;

/// <summary>A server whose handler is a delegate, so each test states its handler inline.</summary>
internal sealed class DelegateServer(Func<IOStream, string, Task> handler, IOLoop loop, long? maxBufferSize = null, SslOptions? ssl = null)
    : TcpServer(loop, ssl, maxBufferSize)
{
    protected override Task HandleStreamAsync(IOStream stream, string address) => handler(stream, address);
}
