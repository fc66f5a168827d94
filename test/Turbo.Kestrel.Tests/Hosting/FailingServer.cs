namespace Turbo.Kestrel.Tests.Hosting;

/// <summary>A server whose constructor fails, as one does when a service it needs is misconfigured.</summary>
public sealed class FailingServer : TcpServer
{
    public FailingServer() => throw new InvalidOperationException("the payments gateway is not configured");

    protected override Task HandleStreamAsync(IOStream stream, string address) => Task.CompletedTask;
}
