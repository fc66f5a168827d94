using System.Security.Cryptography;
using System.Text;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.StressTests.Server;

/// <summary>Large payloads over real sockets: long lines, long delimiters, many writers, backpressure.</summary>
public class BulkTests
{
    [Fact]
    public async Task ReadUntil_OneMebibyteOfRandomBytesThenA26ByteDelimiter()
    {
        var delimiter = "--turbo-kestrel-boundary--"u8.ToArray();
        Assert.Equal(26, delimiter.Length);
        var payload = RandomNumberGenerator.GetBytes(1024 * 1024);
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) => received.TrySetResult(await stream.ReadUntilAsync(delimiter)));
        await using var client = await server.ConnectAsync();

        await client.SendAsync([.. payload, .. delimiter, .. "tail"u8]);

        var line = await received.Task.Within();
        Assert.Equal(payload.Length + delimiter.Length, line.Length);
        Assert.Equal(SHA256.HashData([.. payload, .. delimiter]), SHA256.HashData(line));
    }

    [Fact]
    public async Task ReadUntil_FourMebibyteLineArrivesWhole()
    {
        var line = Encoding.ASCII.GetBytes(new string('x', 4 * 1024 * 1024) + "\n");
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) => received.TrySetResult(await stream.ReadUntilAsync("\n")));
        await using var client = await server.ConnectAsync();

        // The line arrives in about a thousand transport reads; a rescan per read would take minutes and time
        // out here. The cost itself is measured by the benchmarks (docs/performance.md).
        await client.SendAsync(line);
        var echoed = await received.Task.Within();

        Assert.Equal(line.Length, echoed.Length);
        Assert.Equal((byte)'\n', echoed[^1]);
    }

    [Fact]
    public async Task Write_TenWritersThousandWritesOf5000BytesArriveIntact()
    {
        const int Writers = 10;
        const int Writes = 1000;
        const int Size = 5000;
        await using var server = TestServer.Start(async (stream, _) =>
        {
            await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                for (var i = 0; i < Writes; i++)
                {
                    await stream.WriteAsync(Record(w, i, Size));
                }
            })));
            stream.Close();
        });
        await using var client = await server.ConnectAsync();

        var (data, end) = await client.ReadToEndAsync().Within();

        Assert.Equal(ClientEnd.Fin, end);
        Assert.Equal(Writers * Writes * Size, data.Length);
        var next = new int[Writers];
        for (var offset = 0; offset < data.Length; offset += Size)
        {
            var writer = data[offset];
            var index = BitConverter.ToInt32(data, offset + 1);
            Assert.Equal(next[writer]++, index);
            Assert.True(data.AsSpan(offset, Size).SequenceEqual(Record(writer, index, Size)), $"record {writer}/{index} is damaged");
        }
    }

    [Fact]
    public async Task Write_PeerNotReading_BackpressureHoldsWritesAndBoundsMemory()
    {
        var chunk = new byte[64 * 1024];
        var completed = 0;
        var stalled = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            for (var i = 0; i < 1024; i++)
            {
                var write = stream.WriteAsync(chunk).AsTask();
                var finished = await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(1)));
                if (finished != write)
                {
                    stalled.TrySetResult(completed);
                    await write;
                }

                completed++;
            }

            stream.Close();
        });
        await using var client = await server.ConnectAsync();

        // The client reads nothing: the writes must stall long before 64 MiB were accepted.
        var acceptedBeforeStall = await stalled.Task.Within();
        Assert.InRange(acceptedBeforeStall * chunk.Length, 0, 32 * 1024 * 1024);

        var (data, _) = await client.ReadToEndAsync().Within();
        Assert.Equal(1024 * chunk.Length, data.Length);
    }

    [Fact]
    public async Task MixedReads_OverOneMillionBytesHashTheSameAsSent()
    {
        var payload = new byte[1_000_000];
        var random = new Random(20261125);
        var letters = "ab\r\n"u8.ToArray();
        for (var i = 0; i < payload.Length; i++)
        {
            payload[i] = letters[random.Next(letters.Length)];
        }

        var kinds = Enumerable.Range(0, 64).Select(_ => random.Next(5)).ToArray();
        var hash = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(async (stream, _) =>
        {
            using var received = new MemoryStream();
            try
            {
                for (var i = 0; ; i++)
                {
                    received.Write(await MixedReads.ReadOnceAsync(stream, kinds[i % kinds.Length], received));
                }
            }
            catch (StreamClosedException)
            {
            }

            received.Write(await stream.ReadUntilCloseAsync());
            hash.TrySetResult(SHA256.HashData(received.ToArray()));
        });
        await using var client = await server.ConnectAsync();

        for (var offset = 0; offset < payload.Length;)
        {
            var size = Math.Min(random.Next(1, 20_000), payload.Length - offset);
            await client.SendAsync(payload[offset..(offset + size)]);
            offset += size;
        }

        client.ShutdownSend();
        Assert.Equal(SHA256.HashData(payload), await hash.Task.Within());
    }

    private static byte[] Record(int writer, int index, int size)
    {
        var record = new byte[size];
        record[0] = (byte)writer;
        BitConverter.TryWriteBytes(record.AsSpan(1), index);
        for (var i = 5; i < size; i++)
        {
            record[i] = (byte)(writer * 31 + index + i);
        }

        return record;
    }
}
