using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;

namespace Turbo.Kestrel.Benchmarks;

/// <summary>
/// One long line arriving in 4 KiB transport reads: <see cref="IOStream.ReadUntilAsync(ReadOnlyMemory{byte}, int?, CancellationToken)"/>
/// against <see cref="IOStream.ReadBytesAsync(int, bool, CancellationToken)"/> of the same length, which only copies.
/// Linear scanning means the ratio stays flat as the line grows.
/// </summary>
[MemoryDiagnoser]
public class LongLineBenchmarks
{
    private const int ReadSize = 4096;
    private static readonly byte[] Newline = "\n"u8.ToArray();

    private byte[] _piece = null!;
    private Pipe _pipe = null!;
    private IOStream _stream = null!;

    /// <summary>Line length in MiB.</summary>
    [Params(1, 4, 16)]
    public int MiB { get; set; }

    private int Length => MiB * 1024 * 1024;

    [GlobalSetup]
    public void Setup()
    {
        _piece = new byte[ReadSize];
        Array.Fill(_piece, (byte)'x');
        var connection = new InlineConnection();
        _pipe = connection.Input;
        _stream = connection.Stream;
    }

    [Benchmark(Baseline = true)]
    public async Task<int> ReadBytesCopyOnly()
    {
        var read = _stream.ReadBytesAsync(Length + 1);
        await FeedAsync();
        return (await read).Length;
    }

    [Benchmark]
    public async Task<int> ReadUntilNewline()
    {
        var read = _stream.ReadUntilAsync(Newline);
        await FeedAsync();
        return (await read).Length;
    }

    private async ValueTask FeedAsync()
    {
        for (var sent = 0; sent < Length; sent += ReadSize)
        {
            await _pipe.Writer.WriteAsync(_piece);
        }

        await _pipe.Writer.WriteAsync(Newline);
    }
}
