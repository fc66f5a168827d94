using Microsoft.Extensions.Logging;

namespace Turbo.Kestrel.Tests.Hosting;

/// <summary>A server built by dependency injection: its constructor takes a host service.</summary>
public sealed class HostedEchoServer(ILogger<HostedEchoServer> logger) : TcpServer
{
    public ILogger Logger { get; } = logger;

    public TaskCompletionSource<IOStream> Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task HandleStreamAsync(IOStream stream, string address)
    {
        Accepted.TrySetResult(stream);
        while (true)
        {
            var line = await stream.ReadUntilAsync("\n", cancellationToken: stream.ClosingRequested);
            await stream.WriteAsync(line);
        }
    }
}
