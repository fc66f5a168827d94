using System.Security.Cryptography;
using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>Line echo end to end on real Kestrel, 127.0.0.1, port 0.</summary>
public class EchoTests
{
    [Fact]
    public async Task Echo_RoundTripStandalone()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);
        await using var client = await server.ConnectAsync();

        await client.SendAsync("hello\n");

        Assert.Equal("hello\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Echo_ThreePipelinedLinesInOneSegment()
    {
        await using var server = TestServer.Start(Handlers.EchoLinesAsync);
        await using var client = await server.ConnectAsync();

        await client.SendAsync("one\ntwo\nthree\n");

        Assert.Equal("one\n", await client.ReadLineAsync().Within());
        Assert.Equal("two\n", await client.ReadLineAsync().Within());
        Assert.Equal("three\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Echo_DelimiterSplitOverThreeSegmentsSentApart()
    {
        var lines = new List<string>();
        await using var server = TestServer.Start(async (stream, _) =>
        {
            var line = await stream.ReadUntilAsync("\r\n\r\n");
            await stream.WriteAsync(line);
        });
        await using var client = await server.ConnectAsync();

        // Each part is a separate send with the socket's NoDelay on; the server sees at least the first
        // part before the rest exists, whatever the timing.
        await client.SendAsync("GET\r");
        await client.SendAsync("\n\r");
        await client.SendAsync("\n");

        Assert.Equal("GET\r\n\r\n", Encoding.ASCII.GetString(await client.ReadExactlyAsync(7).Within()));
    }

    [Fact]
    public async Task Echo_HalfClosedClientStillGetsReply()
    {
        await using var server = TestServer.Start(async (stream, _) =>
        {
            var line = await stream.ReadUntilAsync("\n");
            await Assert.ThrowsAsync<StreamClosedException>(() => stream.ReadUntilAsync("\n").AsTask());
            await stream.WriteAsync(line);
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync("last words\n");
        client.ShutdownSend();

        var (data, end) = await client.ReadToEndAsync().Within();
        Assert.Equal("last words\n", Encoding.UTF8.GetString(data));
        Assert.Equal(ClientEnd.Fin, end);
    }

    [Fact]
    public async Task Echo_HandlerSeesPeerAddressWithoutPort()
    {
        var seen = new TaskCompletionSource<(string Address, IOStream Stream)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start((stream, address) =>
        {
            seen.TrySetResult((address, stream));
            return Task.CompletedTask;
        });
        await using var client = await server.ConnectAsync();

        var (address, stream) = await seen.Task.Within();

        Assert.Equal("127.0.0.1", address);
        Assert.Equal(address, stream.Address);
        Assert.Equal(client.Socket.LocalEndPoint, stream.RemoteEndPoint);
        Assert.Equal(server.EndPoint, stream.LocalEndPoint);
        Assert.False(string.IsNullOrEmpty(stream.ConnectionId));
    }

    [Fact]
    public async Task Write_LargePayloadThenReturn_DeliversEveryByteThenFin()
    {
        var payload = RandomNumberGenerator.GetBytes(4 * 1024 * 1024);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            var head = stream.WriteAsync(payload.AsMemory(0, 1000)).AsTask();
            await stream.WriteAsync(payload.AsMemory(1000));
            await head;
            stream.Close();
        });
        await using var client = await server.ConnectAsync();

        var (data, end) = await client.ReadToEndAsync().Within();

        Assert.Equal(ClientEnd.Fin, end);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(data));
    }

    [Fact]
    public async Task Write_ConcurrentWritersKeepEachWriteWholeAndInCallOrderPerWriter()
    {
        const int Writers = 10;
        const int WritesEach = 200;
        await using var server = TestServer.Start(async (stream, _) =>
        {
            await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                for (var i = 0; i < WritesEach; i++)
                {
                    await stream.WriteAsync($"{w:D2}:{i:D5}|");
                }
            })));
            stream.Close();
        });
        await using var client = await server.ConnectAsync();

        var text = Encoding.ASCII.GetString((await client.ReadToEndAsync().Within()).Data);

        var records = text.Split('|', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Writers * WritesEach, records.Length);
        foreach (var writer in records.GroupBy(r => r[..2]))
        {
            Assert.Equal(Enumerable.Range(0, WritesEach).Select(i => $"{writer.Key}:{i:D5}"), writer);
        }
    }

    [Fact]
    public async Task CloseCallback_RunsOnceWhenClientLeavesAnIdleHandler()
    {
        var calls = 0;
        var callbackRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlerReturned = new TaskCompletionSource<IOStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlerMayEnd = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            stream.SetCloseCallback(() =>
            {
                Interlocked.Increment(ref calls);
                callbackRan.TrySetResult();
            });
            await handlerMayEnd.Task;
            handlerReturned.TrySetResult(stream);
        });
        var client = await server.ConnectAsync();

        await client.DisposeAsync();
        await callbackRan.Task.Within();
        handlerMayEnd.SetResult();
        var stream = await handlerReturned.Task.Within();

        // The handler's end closes the stream once more; a second call would be queued before this sentinel.
        await server.Logs.WaitForAsync(e => e.EventId.Name == "ConnectionStop");
        await Handlers.CloseCallbackSentinelAsync(stream);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task Abort_ResetsTheConnection()
    {
        var afterAbort = new TaskCompletionSource<(bool IsClosed, Exception? WriteError)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            await stream.ReadUntilAsync("\n");
            stream.Abort();
            var writeError = await Record.ExceptionAsync(() => stream.WriteAsync("late").AsTask());
            afterAbort.TrySetResult((stream.IsClosed, writeError));
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync("go\n");

        var (data, end) = await client.ReadToEndAsync().Within();
        Assert.Empty(data);
        Assert.Equal(ClientEnd.Reset, end);
        var (isClosed, writeError) = await afterAbort.Task.Within();
        Assert.True(isClosed);
        Assert.IsType<StreamClosedException>(writeError);
    }

    [Fact]
    public async Task PeerReset_ClosesTheStreamAndFailsLaterWrites()
    {
        var afterReset = new TaskCompletionSource<(bool IsClosed, Exception? WriteError)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            await Assert.ThrowsAsync<StreamClosedException>(() => stream.ReadUntilAsync("\n").AsTask());
            var writeError = await Record.ExceptionAsync(() => stream.WriteAsync("after reset\n").AsTask());
            afterReset.TrySetResult((stream.IsClosed, writeError));
        });
        var client = await server.ConnectAsync();
        await client.SendAsync("partial");

        client.Socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        await client.DisposeAsync();

        var (isClosed, writeError) = await afterReset.Task.Within();
        Assert.True(isClosed);
        Assert.IsType<StreamClosedException>(writeError);
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.DoesNotContain(server.Logs.Entries, e => e.EventId.Name == "HandlerFailed");
    }

    [Fact]
    public async Task Read_AfterTheHandlerReturned_ThrowsStreamClosed()
    {
        var kept = new TaskCompletionSource<IOStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            await stream.ReadUntilAsync("\n");
            kept.TrySetResult(stream);
        });
        await using var client = await server.ConnectAsync();
        await client.SendAsync("a\n" + new string('b', 3000));
        var stream = await kept.Task.Within();
        await client.ReadToEndAsync().Within();

        await Assert.ThrowsAsync<StreamClosedException>(() => stream.ReadBytesAsync(3000).Within());
    }
}
