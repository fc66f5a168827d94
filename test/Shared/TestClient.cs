using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Turbo.Kestrel.Testing;

/// <summary>How a connection ended, seen from the client.</summary>
internal enum ClientEnd
{
    Fin,
    Reset,
}

/// <summary>A plain socket client with bounded waits.</summary>
internal sealed class TestClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly MemoryStream _pending = new();

    private TestClient(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    public static async Task<TestClient> ConnectAsync(EndPoint endPoint)
    {
        var socket = endPoint is IPEndPoint ip
            ? new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(endPoint).WaitAsync(Timeouts.Default);
        return new TestClient(socket);
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        using var timeout = new CancellationTokenSource(Timeouts.Default);
        await _socket.SendAsync(bytes, SocketFlags.None, timeout.Token);
    }

    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        while (_pending.Length < count)
        {
            if (await ReceiveAsync() == 0)
            {
                throw new EndOfStreamException($"The server closed after {_pending.Length} of {count} bytes.");
            }
        }

        return Take(count);
    }

    public async Task<string> ReadLineAsync()
    {
        while (true)
        {
            var index = Array.IndexOf(_pending.GetBuffer(), (byte)'\n', 0, (int)_pending.Length);
            if (index >= 0)
            {
                return Encoding.UTF8.GetString(Take(index + 1));
            }

            if (await ReceiveAsync() == 0)
            {
                throw new EndOfStreamException("The server closed before a full line arrived.");
            }
        }
    }

    /// <summary>Reads until the server closes; returns everything received and how it closed.</summary>
    public async Task<(byte[] Data, ClientEnd End)> ReadToEndAsync()
    {
        try
        {
            while (await ReceiveAsync() > 0)
            {
            }

            return (Take((int)_pending.Length), ClientEnd.Fin);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (Take((int)_pending.Length), ClientEnd.Reset);
        }
    }

    public async Task<string> ReadToEndTextAsync() => Encoding.UTF8.GetString((await ReadToEndAsync()).Data);

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _pending.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<int> ReceiveAsync()
    {
        using var timeout = new CancellationTokenSource(Timeouts.Default);
        var read = await _socket.ReceiveAsync(_buffer, SocketFlags.None, timeout.Token);
        _pending.Write(_buffer, 0, read);
        return read;
    }

    private byte[] Take(int count)
    {
        var all = _pending.ToArray();
        _pending.SetLength(0);
        _pending.Write(all, count, all.Length - count);
        return all[..count];
    }
}
