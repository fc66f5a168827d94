using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace Turbo.Kestrel.Benchmarks;

/// <summary>
/// An <see cref="IOStream"/> over in-memory pipes whose reader and writer run inline on the writing thread, so a
/// benchmark measures the CPU cost of the read path, not thread hops.
/// </summary>
internal sealed class InlineConnection
{
    public InlineConnection()
    {
        Input = NewPipe();
        var output = NewPipe();
        var context = new DefaultConnectionContext("bench", new DuplexPipe(Input.Reader, output.Writer), new DuplexPipe(output.Reader, Input.Writer));
        Stream = new IOStream(context, long.MaxValue, NullLogger.Instance);
    }

    /// <summary>The pipe the benchmark writes the peer's bytes into.</summary>
    public Pipe Input { get; }

    public IOStream Stream { get; }

    public static Pipe NewPipe() => new(new PipeOptions(
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 0,
        useSynchronizationContext: false));

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
