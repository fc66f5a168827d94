using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;

namespace Turbo.Kestrel.Benchmarks;

/// <summary>
/// The read path: <see cref="IOStream.ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/> against a
/// hand-written <see cref="PipeReader"/> + <see cref="SequenceReader{T}"/> loop, for lines that arrive in 1, 3 or
/// 64 transport reads. Writer and reader share one thread (inline pipe schedulers), so the figures are CPU cost,
/// not thread hops; both sides feed identical bytes in identical pieces and return a new array per line.
/// </summary>
[MemoryDiagnoser]
public class ReadUntilBenchmarks
{
    private const int LinesPerInvocation = 256;
    private static readonly byte[] Newline = "\n"u8.ToArray();

    private Pipe _turboPipe = null!;
    private IOStream _stream = null!;
    private Pipe _handPipe = null!;
    private byte[][] _pieces = null!;

    /// <summary>Line length in bytes, newline included.</summary>
    [Params(64, 4096)]
    public int LineSize { get; set; }

    /// <summary>How many transport reads one line arrives in.</summary>
    [Params(1, 3, 64)]
    public int Segments { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var line = new byte[LineSize];
        Array.Fill(line, (byte)'x');
        line[^1] = (byte)'\n';
        var size = (LineSize + Segments - 1) / Segments;
        _pieces = line.Chunk(size).ToArray();

        var connection = new InlineConnection();
        _turboPipe = connection.Input;
        _stream = connection.Stream;
        _handPipe = InlineConnection.NewPipe();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = LinesPerInvocation)]
    public async Task<long> HandWrittenSequenceReader()
    {
        long total = 0;
        for (var i = 0; i < LinesPerInvocation; i++)
        {
            var read = ReadLineAsync(_handPipe.Reader);
            await FeedAsync(_handPipe.Writer);
            total += (await read).Length;
        }

        return total;
    }

    [Benchmark(OperationsPerInvoke = LinesPerInvocation)]
    public async Task<long> TurboReadUntil()
    {
        long total = 0;
        for (var i = 0; i < LinesPerInvocation; i++)
        {
            var read = _stream.ReadUntilAsync(Newline);
            await FeedAsync(_turboPipe.Writer);
            total += (await read).Length;
        }

        return total;
    }

    private async ValueTask FeedAsync(PipeWriter writer)
    {
        foreach (var piece in _pieces)
        {
            await writer.WriteAsync(piece);
        }
    }

    /// <summary>The loop people write by hand: read, try to find the line, advance, repeat.</summary>
    private static async ValueTask<byte[]> ReadLineAsync(PipeReader reader)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            if (TryTakeLine(buffer, out var line, out var consumed))
            {
                reader.AdvanceTo(consumed);
                return line;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static bool TryTakeLine(in ReadOnlySequence<byte> buffer, out byte[] line, out SequencePosition consumed)
    {
        var sequenceReader = new SequenceReader<byte>(buffer);
        if (sequenceReader.TryReadTo(out ReadOnlySequence<byte> _, (byte)'\n'))
        {
            consumed = sequenceReader.Position;
            line = buffer.Slice(0, consumed).ToArray();
            return true;
        }

        line = [];
        consumed = buffer.Start;
        return false;
    }
}
