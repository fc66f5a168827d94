using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Turbo.Kestrel;

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
        _pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0, useSynchronizationContext: false));
        var toClient = new Pipe();
        var context = new DefaultConnectionContext("bench", new DuplexPipe(_pipe.Reader, toClient.Writer), new DuplexPipe(toClient.Reader, _pipe.Writer));
        _stream = new IOStream(context, long.MaxValue, NullLogger.Instance);
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

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
