using System.IO.Pipelines;

namespace ReadPathInstructions;

/// <summary>Pipes whose reader and writer run on the writing thread: no thread hops, only the read path's own work.</summary>
internal static class InlinePipe
{
    public static Pipe Create() => new(new PipeOptions(
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 0,
        useSynchronizationContext: false));
}
