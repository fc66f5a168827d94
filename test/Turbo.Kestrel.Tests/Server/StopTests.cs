using System.Net;
using System.Net.Sockets;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>Stop (listeners only) and StopAsync (drain, then abort) on real connections.</summary>
public class StopTests
{
    [Fact]
    public async Task Stop_KeepsAcceptedConnectionsAliveAndRefusesNewOnes()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);
        var endPoint = server.EndPoint;
        await using var client = await server.ConnectAsync();
        await client.SendAsync("before\n");
        Assert.Equal("before\n", await client.ReadLineAsync().Within());

        server.Server.Stop();
        server.Server.Stop();

        Assert.Empty(server.Server.LocalEndPoints);
        var refused = await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(endPoint));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        await client.SendAsync("after\n");
        Assert.Equal("after\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Stop_RightAfterAcceptingKeepsEveryAcceptedConnectionServing()
    {
        // Handlers that honour ClosingRequested, like the README's: a spurious signal would end them.
        await using var server = TestServer.Start(async (stream, _) =>
        {
            while (true)
            {
                await stream.WriteAsync(await stream.ReadUntilAsync("\n", cancellationToken: stream.ClosingRequested));
            }
        });
        var clients = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => server.ConnectAsync()));

        server.Server.Stop();

        foreach (var client in clients)
        {
            await client.SendAsync("still served\n");
            Assert.Equal("still served\n", await client.ReadLineAsync().Within());
            await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stop_DoesNotSignalOpenStreams()
    {
        var stream = new TaskCompletionSource<IOStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (s, _) =>
        {
            stream.TrySetResult(s);
            await release.Task;
        });
        await using var client = await server.ConnectAsync();
        var open = await stream.Task.Within();

        server.Server.Stop();

        Assert.False(open.ClosingRequested.IsCancellationRequested);
        Assert.False(open.IsClosed);
        release.SetResult();
    }

    [Fact]
    public async Task Listen_AfterStopOnTheSamePortWorks()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);
        var port = server.Port;
        server.Server.Stop();

        server.Server.Listen(port, "127.0.0.1");

        await using var client = await server.ConnectAsync();
        await client.SendAsync("again\n");
        Assert.Equal("again\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task StopAsyncThenListen_OnOneFixedPort50Times_EachRoundAfterAConnectionInTimeWait_ServesEveryRound()
    {
        const int Rounds = 50;
        // A free port below the kernel's ephemeral range (ip_local_port_range starts at 32768 here), so that no other
        // test binding port 0 meanwhile can be given it between two rounds.
        var port = Enumerable.Range(0, 200).Select(_ => Random.Shared.Next(20000, 32000)).First(IsFree);

        var endPoint = new IPEndPoint(IPAddress.Loopback, port);

        // The server answers one line and closes first, so its side of each connection ends in TIME_WAIT on the port.
        await using var server = TestServer.Create(async (stream, _) => await stream.WriteAsync(await stream.ReadUntilAsync("\n")));
        for (var round = 0; round < Rounds; round++)
        {
            server.Server.Listen(port, "127.0.0.1");

            await using (var client = await TestClient.ConnectAsync(endPoint))
            {
                await client.SendAsync($"round {round}\n");
                var (data, end) = await client.ReadToEndAsync().Within();
                Assert.Equal($"round {round}\n", System.Text.Encoding.ASCII.GetString(data));
                Assert.Equal(ClientEnd.Fin, end);
            }

            if (round is 0 or Rounds - 1)
            {
                // TIME_WAIT lasts 60 s: the first round's is still there in every later round.
                await Timeouts.UntilAsync(() => KernelSockets.HasTimeWait(port), $"a connection on port {port} in TIME_WAIT");
            }

            await server.Server.StopAsync(TimeSpan.FromSeconds(5)).Within();

            Assert.Empty(server.Server.LocalEndPoints);
            var refused = await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(endPoint));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
    }

    [Fact]
    public async Task StopAsync_WithANegativeDrainTimeout_ReturnsAFaultedTask()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);

        // The call itself does not throw: the task does, so Task.WhenAll over several servers still reports it.
        var stopping = server.Server.StopAsync(TimeSpan.FromSeconds(-2));

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => stopping.Within());
        Assert.NotEmpty(server.Server.LocalEndPoints);
    }

    [Fact]
    public async Task StopAsync_FiresClosingRequestedAndLetsCooperativeHandlersFinish()
    {
        var handlerEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            try
            {
                await stream.ReadUntilAsync("\n", cancellationToken: stream.ClosingRequested);
            }
            catch (OperationCanceledException)
            {
                await stream.WriteAsync("bye\n");
                handlerEnded.TrySetResult();
            }
        });
        await using var client = await server.ConnectAsync();
        await client.SendAsync("partial");
        await server.Logs.WaitForAsync(e => e.Message.Contains("listening", StringComparison.Ordinal));

        await WaitForConnectionAsync(server);
        await server.Server.StopAsync(TimeSpan.FromSeconds(10)).Within();

        await handlerEnded.Task.Within();
        var (data, end) = await client.ReadToEndAsync().Within();
        Assert.Equal("bye\n", System.Text.Encoding.ASCII.GetString(data));
        Assert.Equal(ClientEnd.Fin, end);
    }

    [Fact]
    public async Task StopAsync_AbortsAStubbornHandlerAtTheDeadline()
    {
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var readFailed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            stream.ClosingRequested.Register(() => signalled.TrySetResult());
            try
            {
                await stream.ReadUntilAsync("\n");
            }
            catch (Exception ex)
            {
                readFailed.TrySetResult(ex);
                throw;
            }
        });
        await using var client = await server.ConnectAsync();
        await WaitForConnectionAsync(server);

        var started = TimeProvider.System.GetTimestamp();
        await server.Server.StopAsync(TimeSpan.FromMilliseconds(300)).Within();
        var elapsed = TimeProvider.System.GetElapsedTime(started);

        await signalled.Task.Within();
        Assert.IsType<StreamClosedException>(await readFailed.Task.Within());
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(250), $"StopAsync returned after {elapsed}, before the drain deadline.");

        // The abort closed the client's connection: reading to the end returns instead of timing out.
        await client.ReadToEndAsync().Within();
    }

    [Fact]
    public async Task DisposeAsync_StopsListeningAndDrainsCooperativeHandlers()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.ReadUntilAsync("\n", cancellationToken: stream.ClosingRequested).AsTask());
            ended.TrySetResult();
        });
        var endPoint = server.EndPoint;
        await using var client = await server.ConnectAsync();
        await WaitForConnectionAsync(server);

        await server.Server.DisposeAsync().AsTask().Within();

        await ended.Task.Within();
        Assert.Empty(server.Server.LocalEndPoints);
        await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(endPoint));
    }

    [Fact]
    public async Task StopAsync_CancelledTokenAbortsAtOnce()
    {
        var readFailed = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            try
            {
                await stream.ReadUntilAsync("\n");
            }
            catch (Exception ex)
            {
                readFailed.TrySetResult(ex);
            }
        });
        await using var client = await server.ConnectAsync();
        await WaitForConnectionAsync(server);

        await server.Server.StopAsync(Timeout.InfiniteTimeSpan, new CancellationToken(canceled: true)).Within();

        Assert.IsType<StreamClosedException>(await readFailed.Task.Within());
    }

    [Fact]
    public async Task IOLoopStop_StopsItsServersAndEndsStart()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);
        var endPoint = server.EndPoint;
        var running = Task.Run(server.Loop.Start);

        server.Loop.Stop();

        await running.Within();
        Assert.Empty(server.Server.LocalEndPoints);
        await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(endPoint));
    }

    [Fact]
    public async Task IOLoopStop_BeforeStart_MakesTheNextStartReturnAtOnce()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);

        server.Loop.Stop();

        await Task.Run(server.Loop.Start).Within();
        Assert.Empty(server.Server.LocalEndPoints);
    }

    [Fact]
    public async Task IOLoopRunAsync_EndsWhenItsTokenIsCancelled()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);
        using var cancel = new CancellationTokenSource();
        var running = server.Loop.RunAsync(cancel.Token);
        Assert.False(running.IsCompleted);

        await cancel.CancelAsync();

        await running.Within();
        Assert.Empty(server.Server.LocalEndPoints);
    }

    [Fact]
    public void Server_WithoutLoop_UsesTheGlobalInstance()
    {
        var server = new LooplessServer();

        Assert.Same(IOLoop.Instance, server.IOLoop);
        Assert.Equal(128L * 1024 * 1024, server.MaxBufferSize);
        Assert.Null(server.SslOptions);
    }

    /// <summary>Waits until the server has handed the connection to its handler.</summary>
    private static Task<LogEntry> WaitForConnectionAsync(TestServer server) =>
        server.Logs.WaitForAsync(e => e.Category.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal)
            && e.EventId.Name == "ConnectionStart");

    private sealed class LooplessServer : TcpServer
    {
        protected override Task HandleStreamAsync(IOStream stream, string address) => Task.CompletedTask;
    }

    private static bool IsFree(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
