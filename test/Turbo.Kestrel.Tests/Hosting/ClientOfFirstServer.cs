using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace Turbo.Kestrel.Tests.Hosting;

/// <summary>
/// A server the host builds after starting "First": its constructor connects a client to First and waits until
/// First's handler holds it, so the host's start fails later with First serving a client that never leaves.
/// </summary>
public sealed class ClientOfFirstServer : TcpServer, IDisposable
{
    private readonly Socket _client;

    public ClientOfFirstServer(IServiceProvider services)
    {
        var first = (StubbornServer)services.GetRequiredKeyedService<TcpServer>("First");
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _client.Connect(first.LocalEndPoints[0]);
        if (!first.Accepted.Task.Wait(TimeSpan.FromSeconds(15)))
        {
            throw new TimeoutException("First never accepted the client.");
        }
    }

    public void Dispose() => _client.Dispose();

    protected override Task HandleStreamAsync(IOStream stream, string address) => Task.CompletedTask;
}
