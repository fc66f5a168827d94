namespace Turbo.Kestrel.Tests.Hosting;

/// <summary>A server whose handler ignores every signal and waits for its client to leave.</summary>
public sealed class StubbornServer : TcpServer
{
    public TaskCompletionSource Accepted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task HandleStreamAsync(IOStream stream, string address)
    {
        Accepted.TrySetResult();
        await stream.ReadUntilCloseAsync();
    }
}
