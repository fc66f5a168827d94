using System.Net.Sockets;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.StressTests.Faults;

/// <summary>
/// Handlers that throw, peers that reset, handlers that keep their stream: each failure stays with its own
/// connection, is logged once at the right level, and everyone else is served byte-exact. Afterwards nothing is left
/// behind: no connection counted as active, no file descriptor left open. The descriptor count is the whole
/// process's, so this class runs alone (<see cref="RunsAlone"/>).
/// </summary>
[Collection(RunsAlone.Name)]
public class FaultIsolationTests
{
    [Fact]
    public async Task ThousandConnections_EveryTenthHandlerThrows_TheOthersAndTheIdleOnesAreServedExactly_NothingLeaks()
    {
        const int Connections = 1000;
        const int Idle = 200;
        var accepted = 0;
        await using var test = TestServer.Create(async (stream, address) =>
        {
            var line = await stream.ReadUntilAsync("\n");
            switch (line[0])
            {
                case (byte)'T':
                    throw new InvalidOperationException("thrown before the first write");
                case (byte)'P':
                    await stream.WriteAsync("partial");
                    throw new InvalidOperationException("thrown after a partial write");
                default:
                    Interlocked.Increment(ref accepted);
                    await stream.WriteAsync(line);
                    await Handlers.EchoLinesAsync(stream, address);
                    break;
            }
        });
        test.Server.Listen(0, "127.0.0.1", backlog: 1024);
        var descriptors = OpenDescriptors.Count();

        var idle = new List<TestClient>();
        for (var i = 0; i < Idle; i++)
        {
            var client = await test.ConnectAsync();
            await client.SendAsync($"idle {i}\n");
            Assert.Equal($"idle {i}\n", await client.ReadLineAsync().Within());
            idle.Add(client);
        }

        using var inFlight = new SemaphoreSlim(100);
        var results = await Task.WhenAll(Enumerable.Range(0, Connections).Select(async i =>
        {
            await inFlight.WaitAsync();
            try
            {
                await using var client = await test.ConnectAsync();
                var kind = i % 10 != 0 ? 'E' : i % 20 == 0 ? 'T' : 'P';
                var payload = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
                await client.SendAsync($"{kind}{payload}\n");
                if (kind == 'E')
                {
                    return await client.ReadLineAsync() == $"E{payload}\n";
                }

                // A failed handler's client sees the connection end (FIN or RST), never a hang.
                var (data, _) = await client.ReadToEndAsync();
                return kind == 'T' ? data.Length == 0 : "partial".StartsWith(System.Text.Encoding.ASCII.GetString(data), StringComparison.Ordinal);
            }
            finally
            {
                inFlight.Release();
            }
        })).Within();

        Assert.All(results, Assert.True);
        var failures = test.Logs.Entries.Where(e => e.EventId.Name == "HandlerFailed").ToArray();
        Assert.Equal(Connections / 10, failures.Length);
        Assert.All(failures, f => Assert.Equal(LogLevel.Error, f.Level));
        Assert.Equal(failures.Length, failures.Select(f => f.Message).Distinct().Count());
        foreach (var (client, i) in idle.Select((c, i) => (c, i)))
        {
            await client.SendAsync($"still {i}\n");
            Assert.Equal($"still {i}\n", await client.ReadLineAsync().Within());
            await client.DisposeAsync();
        }

        // 1,200 connections, 100 of them failed: none is still counted, none still holds a descriptor.
        await Timeouts.UntilAsync(() => test.Server.Dispatcher.Watchdog.ActiveConnections == 0, "every connection has ended");
        await OpenDescriptors.SettleAsync(descriptors);
    }

    [Fact]
    public async Task ClientReset_WhileTheHandlerWaitsToRead_EndsTheReadAndIsNotAnError_NothingLeaks()
    {
        // Repeated, so that a descriptor or slot leaked per reset would stand out of the count's slack.
        const int Rounds = 100;
        var reading = Channel.CreateUnbounded<bool>();
        var ended = Channel.CreateUnbounded<Exception>();
        await using var test = TestServer.Start(async (stream, _) =>
        {
            try
            {
                var read = stream.ReadUntilAsync("\n");
                reading.Writer.TryWrite(true);
                await read;
            }
            catch (Exception ex)
            {
                ended.Writer.TryWrite(ex);
                throw;
            }
        });
        var descriptors = OpenDescriptors.Count();

        for (var round = 0; round < Rounds; round++)
        {
            var client = await test.ConnectAsync();
            await reading.Reader.ReadAsync().Within();

            client.Socket.LingerState = new LingerOption(true, 0);
            await client.DisposeAsync();

            Assert.IsType<StreamClosedException>(await ended.Reader.ReadAsync().Within());
        }

        await Timeouts.UntilAsync(
            () => test.Logs.Entries.Count(e => e.EventId.Name == "HandlerEndedByClosedStream") == Rounds, $"{Rounds} handlers ended by the reset");
        Assert.DoesNotContain(test.Logs.Entries, e => e.Level >= LogLevel.Error);
        await Timeouts.UntilAsync(() => test.Server.Dispatcher.Watchdog.ActiveConnections == 0, "every reset connection has ended");
        await OpenDescriptors.SettleAsync(descriptors);
    }

    [Fact]
    public async Task ClientReset_WhileTheServerWrites10MiB_FailsTheWrite_NothingLeaks()
    {
        const int Rounds = 50;
        var ended = Channel.CreateUnbounded<Exception>();
        await using var test = TestServer.Start(async (stream, _) =>
        {
            try
            {
                await stream.ReadUntilAsync("\n");
                await stream.WriteAsync(new byte[10 * 1024 * 1024]);
            }
            catch (Exception ex)
            {
                ended.Writer.TryWrite(ex);
            }
        });
        var descriptors = OpenDescriptors.Count();

        for (var round = 0; round < Rounds; round++)
        {
            var client = await test.ConnectAsync();
            await client.SendAsync("go\n");
            await client.ReadExactlyAsync(1024).Within();

            client.Socket.LingerState = new LingerOption(true, 0);
            await client.DisposeAsync();

            Assert.IsType<StreamClosedException>(await ended.Reader.ReadAsync().Within());
        }

        await using (var other = await test.ConnectAsync())
        {
            await other.SendAsync("x\n");
            Assert.Equal(1024, (await other.ReadExactlyAsync(1024).Within()).Length);
        }

        await Timeouts.UntilAsync(() => test.Server.Dispatcher.Watchdog.ActiveConnections == 0, "every connection has ended");
        await OpenDescriptors.SettleAsync(descriptors);
    }

    [Fact]
    public async Task HandlerThatKeepsItsStream_TheConnectionClosesWhenItReturns_AndLaterUseThrows()
    {
        var kept = new TaskCompletionSource<IOStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var test = TestServer.Start(async (stream, _) =>
        {
            await stream.WriteAsync("bye\n");
            kept.TrySetResult(stream);
        });
        await using var client = await test.ConnectAsync();

        var (data, end) = await client.ReadToEndAsync().Within();
        Assert.Equal("bye\n", System.Text.Encoding.ASCII.GetString(data));
        Assert.Equal(ClientEnd.Fin, end);
        var stream = await kept.Task.Within();
        Assert.True(stream.IsClosed);
        await Assert.ThrowsAsync<StreamClosedException>(() => stream.ReadUntilAsync("\n").AsTask()).Within();
        await Assert.ThrowsAsync<StreamClosedException>(() => stream.WriteAsync("late").AsTask()).Within();
    }

    [Fact]
    public async Task HandlerThatHangs_DoesNotHoldUpOtherConnections()
    {
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var test = TestServer.Start(async (stream, address) =>
        {
            var line = await stream.ReadUntilAsync("\n");
            if (line[0] == (byte)'h')
            {
                hung.TrySetResult();
                await Task.Delay(Timeout.Infinite, stream.ClosingRequested);
            }

            await stream.WriteAsync(line);
            await Handlers.EchoLinesAsync(stream, address);
        });
        await using var stuck = await test.ConnectAsync();
        await stuck.SendAsync("hang\n");
        await hung.Task.Within();

        for (var i = 0; i < 20; i++)
        {
            await using var client = await test.ConnectAsync();
            await client.SendAsync($"line {i}\n");
            Assert.Equal($"line {i}\n", await client.ReadLineAsync().Within());
        }
    }
}
