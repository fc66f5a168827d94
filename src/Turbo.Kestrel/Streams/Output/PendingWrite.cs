namespace Turbo.Kestrel.Streams;

/// <summary>A write waiting behind a flush in progress; completes when its bytes were flushed.</summary>
internal sealed class PendingWrite(ReadOnlyMemory<byte> data)
    : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
{
    public ReadOnlyMemory<byte> Data { get; } = data;
}
