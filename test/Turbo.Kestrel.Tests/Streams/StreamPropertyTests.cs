using System.Text;
using CsCheck;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Streams;

/// <summary>
/// Property tests: for random payloads, delimiters, segmentation and delays, reads return what a simple
/// reference computes. CsCheck prints the seed of a failing case; set the CsCheck_Seed environment variable
/// to that value to replay it.
/// </summary>
public class StreamPropertyTests
{
    private static readonly byte[] Alphabet = "ab\r\n"u8.ToArray();

    /// <summary>Bytes from a four-letter alphabet, so delimiters (and their overlaps) are frequent.</summary>
    private static readonly Gen<byte> Letter = Gen.Int[0, Alphabet.Length - 1].Select(i => Alphabet[i]);

    /// <summary>How the payload is cut into transport reads, and what happens between them.</summary>
    private static readonly Gen<Delivery[]> Deliveries = Gen.Select(Gen.Int[1, 70], Gen.Int[0, 9])
        .Select((size, pause) => new Delivery(size, pause == 0 ? Pause.Delay : pause < 4 ? Pause.Yield : Pause.None))
        .Array[1, 12];

    /// <summary>A delimiter of 1 to 32 letters and a payload that contains it now and then.</summary>
    private static readonly Gen<(byte[] Delimiter, byte[] Payload)> DelimitedPayload =
        from delimiter in Letter.Array[1, 32]
        from parts in Gen.Select(Letter.Array[0, 120], Gen.Bool).List[0, 25]
        select (delimiter, parts.SelectMany(p => p.Item2 ? p.Item1.Concat(delimiter) : p.Item1).ToArray());

    [Fact]
    public Task ReadUntil_MatchesReferenceSplitterUnderAnySegmentation() =>
        Gen.Select(DelimitedPayload, Deliveries).SampleAsync(async (input, deliveries) =>
        {
            var (delimiter, payload) = input;
            var connection = new PipeConnection(maxBufferSize: int.MaxValue);
            var sending = SendAsync(connection, payload, deliveries);

            var lines = new List<byte[]>();
            byte[] rest;
            while (true)
            {
                try
                {
                    lines.Add(await connection.Stream.ReadUntilAsync(delimiter).Within());
                }
                catch (StreamClosedException)
                {
                    rest = await connection.Stream.ReadUntilCloseAsync().Within();
                    break;
                }
            }

            await sending;
            var (expectedLines, expectedRest) = ReferenceSplit(payload, delimiter);
            Assert.Equal(expectedLines.Count, lines.Count);
            for (var i = 0; i < lines.Count; i++)
            {
                Assert.Equal(expectedLines[i], lines[i]);
            }

            Assert.Equal(expectedRest, rest);
        }, iter: 300, print: t => Describe(t.Item1, t.Item2));

    [Fact]
    public Task ReadBytes_ExactAndPartialReadsReassembleThePayload() =>
        Gen.Select(Letter.Array[0, 2000], Gen.Select(Gen.Int[1, 90], Gen.Bool).Array[1, 40], Deliveries).SampleAsync(async (payload, reads, deliveries) =>
        {
            var connection = new PipeConnection(maxBufferSize: int.MaxValue);
            var sending = SendAsync(connection, payload, deliveries);
            var received = new MemoryStream();
            var offset = 0;
            var closed = false;
            for (var i = 0; !closed; i++)
            {
                var (count, partial) = reads[i % reads.Length];
                try
                {
                    var bytes = await connection.Stream.ReadBytesAsync(count, partial).Within();
                    Assert.True(partial ? bytes.Length >= 1 && bytes.Length <= count : bytes.Length == count);
                    received.Write(bytes);
                    offset += bytes.Length;
                }
                catch (StreamClosedException)
                {
                    Assert.True(payload.Length - offset < count);
                    closed = true;
                }
            }

            received.Write(await connection.Stream.ReadUntilCloseAsync().Within());
            await sending;
            Assert.Equal(payload, received.ToArray());
        }, iter: 300);

    [Fact]
    public Task MixedReads_ReassembleThePayloadExactly() =>
        Gen.Select(Letter.Array[0, 3000], Gen.Int[0, 4].Array[1, 30], Deliveries).SampleAsync(async (payload, kinds, deliveries) =>
        {
            var connection = new PipeConnection(maxBufferSize: int.MaxValue);
            var sending = SendAsync(connection, payload, deliveries);
            var received = new MemoryStream();
            try
            {
                for (var i = 0; ; i++)
                {
                    received.Write(await MixedReads.ReadOnceAsync(connection.Stream, kinds[i % kinds.Length], received).Within());
                }
            }
            catch (StreamClosedException)
            {
            }

            received.Write(await connection.Stream.ReadUntilCloseAsync().Within());
            await sending;
            Assert.Equal(payload, received.ToArray());
        }, iter: 300);

    /// <summary>The reference: leftmost, non-overlapping occurrences, each piece including its delimiter.</summary>
    private static (List<byte[]> Lines, byte[] Tail) ReferenceSplit(byte[] payload, byte[] delimiter)
    {
        var lines = new List<byte[]>();
        var position = 0;
        while (true)
        {
            var index = payload.AsSpan(position).IndexOf(delimiter);
            if (index < 0)
            {
                return (lines, payload[position..]);
            }

            var end = position + index + delimiter.Length;
            lines.Add(payload[position..end]);
            position = end;
        }
    }

    private static async Task SendAsync(PipeConnection connection, byte[] payload, Delivery[] deliveries)
    {
        var offset = 0;
        for (var i = 0; offset < payload.Length; i++)
        {
            var delivery = deliveries[i % deliveries.Length];
            var size = Math.Min(delivery.Size, payload.Length - offset);
            await connection.SendAsync(payload[offset..(offset + size)]);
            offset += size;
            switch (delivery.Pause)
            {
                case Pause.Yield:
                    await Task.Yield();
                    break;
                case Pause.Delay:
                    await Task.Delay(1);
                    break;
            }
        }

        connection.SendFin();
    }

    private static string Describe((byte[] Delimiter, byte[] Payload) input, Delivery[] deliveries) =>
        $"delimiter {Escape(input.Delimiter)}, payload {Escape(input.Payload)}, deliveries [{string.Join(", ", deliveries)}]";

    private static string Escape(byte[] bytes) => '"' + Encoding.Latin1.GetString(bytes).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + '"';

    private enum Pause
    {
        None,
        Yield,
        Delay,
    }

    private readonly record struct Delivery(int Size, Pause Pause);
}
