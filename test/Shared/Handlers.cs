namespace Turbo.Kestrel.Testing;

/// <summary>Connection handlers and handler steps the tests share.</summary>
internal static class Handlers
{
    /// <summary>Line echo, until the stream ends.</summary>
    public static async Task EchoLinesAsync(IOStream stream, string _)
    {
        while (true)
        {
            var line = await stream.ReadUntilAsync("\n");
            await stream.WriteAsync(line);
        }
    }

    /// <summary>Waits (bounded) until the stream's close callback has run.</summary>
    public static async Task CloseCallbackSentinelAsync(IOStream stream)
    {
        var sentinel = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stream.SetCloseCallback(() => sentinel.TrySetResult());
        await sentinel.Task.Within();
    }
}
