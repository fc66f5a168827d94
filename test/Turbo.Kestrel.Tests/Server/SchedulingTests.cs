using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>
/// The same stream semantics whichever thread runs the handler: with <see cref="IOLoop.InlineScheduling"/> on and off,
/// pipelined lines from many clients come back byte-exact and in order, and a large reply read in small chunks arrives whole.
/// </summary>
public class SchedulingTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PipelinedLinesFromTwentyClients_AreEchoedInOrder(bool inline)
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);
        test.Loop.InlineScheduling = inline;
        test.Server.Listen(0, "127.0.0.1");

        await Task.WhenAll(Enumerable.Range(0, 20).Select(async client =>
        {
            await using var connection = await test.ConnectAsync();
            var lines = string.Concat(Enumerable.Range(0, 2000).Select(i => $"client {client} line {i}\n"));
            var bytes = Encoding.ASCII.GetBytes(lines);
            var reply = connection.ReadExactlyAsync(bytes.Length);
            for (var offset = 0; offset < bytes.Length; offset += 7_000)
            {
                // Chunks that end mid-line, so some lines span two transport reads.
                await connection.SendAsync(bytes[offset..Math.Min(bytes.Length, offset + 7_000)]);
            }

            Assert.Equal(lines, Encoding.ASCII.GetString(await reply.Within()));
        })).Within();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FourMebibyteReply_ReadInSmallChunks_ArrivesWhole(bool inline)
    {
        var payload = new byte[4 * 1024 * 1024];
        new Random(7).NextBytes(payload);
        await using var test = TestServer.Create(async (stream, _) =>
        {
            await stream.ReadUntilAsync("\n");
            await stream.WriteAsync(payload);
            stream.Close();
        });
        test.Loop.InlineScheduling = inline;
        test.Server.Listen(0, "127.0.0.1");

        await using var client = await test.ConnectAsync();
        await client.SendAsync("send\n");
        var received = new List<byte>(payload.Length);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var n = await client.Socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None).Within();
            if (n == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, n));
        }

        Assert.True(payload.AsSpan().SequenceEqual(received.ToArray()));
    }
}
