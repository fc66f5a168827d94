using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Turbo.Kestrel.Testing;

/// <summary>
/// An <see cref="IOStream"/> over in-memory pipes: the test plays the transport, so it decides exactly which
/// bytes arrive in which read (segmentation) and when the peer closes.
/// </summary>
internal sealed class PipeConnection : ITestPeer
{
    // Inline: a pending read resumes inside SendAsync, so every SendAsync is one transport read.
    private readonly Pipe _toServer = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Pipe _fromServer;
    private readonly CancellationTokenSource _closed = new();
    private readonly FlushCountingPipeWriter _output;

    /// <param name="maxBufferSize">The stream's MaxBufferSize.</param>
    /// <param name="tls">A TLS handshake to report, or null for plain TCP.</param>
    /// <param name="pauseOutput">When true, the server's writes stall past 64 KiB until the test reads them (a peer that does not read).</param>
    /// <param name="watch">The connection's timeouts, or null.</param>
    public PipeConnection(long maxBufferSize = 1024 * 1024, ITlsHandshakeFeature? tls = null, bool pauseOutput = false, Turbo.Kestrel.Limits.ConnectionWatch? watch = null)
    {
        _fromServer = new Pipe(new PipeOptions(pauseWriterThreshold: pauseOutput ? 64 * 1024 : 0, resumeWriterThreshold: pauseOutput ? 32 * 1024 : 0, useSynchronizationContext: false));
        _output = new FlushCountingPipeWriter(_fromServer.Writer);
        var transport = new DuplexPipe(_toServer.Reader, _output);
        var application = new DuplexPipe(_fromServer.Reader, _toServer.Writer);
        var context = new DefaultConnectionContext("test-connection", transport, application)
        {
            ConnectionClosed = _closed.Token,
        };
        if (tls is not null)
        {
            context.Features.Set(tls);
        }

        Stream = new IOStream(context, maxBufferSize, NullLogger.Instance, watch);
    }

    public IOStream Stream { get; }

    /// <summary>How many times the server flushed its output (for a socket, each flush is a send).</summary>
    public int ServerFlushes => _output.Flushes;

    /// <summary>Waits until the server has written at least <paramref name="length"/> bytes, and returns all of them as text (nothing is taken).</summary>
    public async Task<string> PeekServerOutputAsync(int length)
    {
        while (true)
        {
            var result = await _fromServer.Reader.ReadAsync().AsTask().Within();
            if (result.Buffer.Length >= length || result.IsCompleted)
            {
                var text = Encoding.Latin1.GetString(result.Buffer);
                _fromServer.Reader.AdvanceTo(result.Buffer.Start);
                return text;
            }

            _fromServer.Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Delivers one transport read's worth of bytes.</summary>
    public async Task SendAsync(string text) => await _toServer.Writer.WriteAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes) => await _toServer.Writer.WriteAsync(bytes);

    /// <summary>The peer's FIN.</summary>
    public void SendFin()
    {
        _toServer.Writer.Complete();
        _closed.Cancel();
    }

    public Task SendFinAsync()
    {
        SendFin();
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The transport's input fails with <paramref name="error"/> (a reset, as Kestrel reports it).</summary>
    public void FailServerInput(Exception error) => _toServer.Writer.Complete(error);

    /// <summary>The transport stops taking the server's output, failing with <paramref name="error"/>.</summary>
    public void FailServerOutput(Exception error) => _fromServer.Reader.Complete(error);

    /// <summary>
    /// Waits for server output, runs <paramref name="beforeTaking"/>, then takes (and discards) all of it, as a peer
    /// that reads; returns how many bytes.
    /// </summary>
    public async Task<long> DrainServerOutputAsync(Action? beforeTaking = null)
    {
        var result = await _fromServer.Reader.ReadAsync().AsTask().Within();
        beforeTaking?.Invoke();
        var length = result.Buffer.Length;
        _fromServer.Reader.AdvanceTo(result.Buffer.End);
        return length;
    }

    /// <summary>Everything the server wrote, once it completed its output.</summary>
    public async Task<string> ReadServerOutputToEndAsync()
    {
        while (true)
        {
            var result = await _fromServer.Reader.ReadAsync().AsTask().Within();
            if (result.IsCompleted)
            {
                var text = Encoding.Latin1.GetString(result.Buffer);
                _fromServer.Reader.AdvanceTo(result.Buffer.End);
                return text;
            }

            _fromServer.Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
