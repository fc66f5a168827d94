using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>maxBytes and MaxBufferSize on real connections: the offender is closed, others are served.</summary>
public class LimitTests
{
    [Fact]
    public async Task MaxBufferSize_ExceededClosesOnlyThatConnection()
    {
        var failure = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            try
            {
                while (true)
                {
                    await stream.WriteAsync(await stream.ReadUntilAsync("\n"));
                }
            }
            catch (StreamClosedException ex) when (ex.InnerException is StreamBufferFullException)
            {
                failure.TrySetResult(ex);
            }
        }, maxBufferSize: 64 * 1024);
        await using var good = await server.ConnectAsync();
        await using var flood = await server.ConnectAsync();

        await good.SendAsync("before\n");
        Assert.Equal("before\n", await good.ReadLineAsync().Within());
        var sending = flood.SendAsync(new byte[1024 * 1024]);

        var error = await failure.Task.Within();
        Assert.Contains("MaxBufferSize", error.Message, StringComparison.Ordinal);
        await flood.ReadToEndAsync().Within();
        await sending.ContinueWith(_ => { }, TaskScheduler.Default).Within();
        await server.Logs.WaitForAsync(e => e.EventId.Name == "BufferFull");
        await good.SendAsync("after\n");
        Assert.Equal("after\n", await good.ReadLineAsync().Within());
    }

    [Fact]
    public async Task ReadBytes_MoreThanMaxBufferSize_FailsAtOnceWithoutWaitingForBytes_OthersServed()
    {
        var failure = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var accepted = 0;
        await using var server = TestServer.Start(async (stream, address) =>
        {
            if (Interlocked.Increment(ref accepted) > 1)
            {
                await Handlers.EchoLinesAsync(stream, address);
                return;
            }

            try
            {
                await stream.ReadBytesAsync(64 * 1024 + 1);
            }
            catch (StreamClosedException ex)
            {
                failure.TrySetResult(ex);
            }
        }, maxBufferSize: 64 * 1024);

        // The first connection asks for too much and sends nothing: the read must fail without waiting for bytes.
        await using var asker = await server.ConnectAsync();
        var error = await failure.Task.Within();
        Assert.IsType<StreamBufferFullException>(error.InnerException);
        Assert.Contains("asked for 65537 bytes", error.Message, StringComparison.Ordinal);
        Assert.Empty((await asker.ReadToEndAsync().Within()).Data);

        await using var echo = await server.ConnectAsync();
        await echo.SendAsync("fine\n");
        Assert.Equal("fine\n", await echo.ReadLineAsync().Within());
    }

    [Fact]
    public async Task ReadBytes_PartialAboveMaxBufferSize_IsServed()
    {
        var connection = new PipeConnection(maxBufferSize: 16);
        var read = connection.Stream.ReadBytesAsync(1000, partial: true).AsTask();

        await connection.SendAsync("0123456789");

        Assert.Equal(10, (await read.Within()).Length);
    }

    [Fact]
    public async Task MaxBytes_ExceededThrowsUnsatisfiableAndClosesConnection()
    {
        var failure = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            try
            {
                await stream.ReadUntilAsync("\n", maxBytes: 8);
            }
            catch (UnsatisfiableReadException ex)
            {
                failure.TrySetResult(ex);
                throw;
            }
        });
        await using var client = await server.ConnectAsync();

        await client.SendAsync("123456789\n");

        Assert.IsType<UnsatisfiableReadException>(await failure.Task.Within());
        var (data, _) = await client.ReadToEndAsync().Within();
        Assert.Empty(data);
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    [Fact]
    public async Task MaxBytes_ExactlyMetSucceeds()
    {
        await using var server = TestServer.Start(async (stream, _) =>
            await stream.WriteAsync(await stream.ReadUntilAsync("\n", maxBytes: 8)));
        await using var client = await server.ConnectAsync();

        await client.SendAsync("1234567\n");

        Assert.Equal("1234567\n", Encoding.ASCII.GetString((await client.ReadToEndAsync().Within()).Data));
    }
}
