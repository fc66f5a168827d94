using System.Net;
using System.Net.Sockets;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.Tests.Server;

/// <summary>IPv6, v6-only, and unix domain sockets.</summary>
public class AddressTests
{
    [Fact]
    public async Task Listen_IPv6Loopback_EchoesAndShowsTheAddress()
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var test = TestServer.Create(async (stream, address) =>
        {
            seen.TrySetResult(address);
            await Handlers.EchoLinesAsync(stream, address);
        });

        test.Server.Listen(0, "::1");

        await using var client = await TestClient.ConnectAsync(test.Server.LocalEndPoints[0]);
        await client.SendAsync("six\n");
        Assert.Equal("six\n", await client.ReadLineAsync().Within());
        Assert.Equal("::1", await seen.Task.Within());
    }

    [Fact]
    public async Task Listen_InterNetworkV6WithoutAddress_IsIPv6Only()
    {
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);

        test.Server.Listen(0, family: AddressFamily.InterNetworkV6);

        var port = ((IPEndPoint)test.Server.LocalEndPoints[0]).Port;
        await using (var six = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port)))
        {
            await six.SendAsync("v6\n");
            Assert.Equal("v6\n", await six.ReadLineAsync().Within());
        }

        await Assert.ThrowsAsync<SocketException>(() => TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)));
    }

    [Fact]
    public async Task Listen_UnixSocket_EchoesAndRemovesItsFileOnStop()
    {
        using var dir = new TempDirectory();
        var path = dir.File("echo.sock");
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var test = TestServer.Create(async (stream, address) =>
        {
            seen.TrySetResult(address);
            await Handlers.EchoLinesAsync(stream, address);
        });

        test.Server.Listen(0, path, family: AddressFamily.Unix);

        Assert.Equal(path, Assert.IsType<UnixDomainSocketEndPoint>(Assert.Single(test.Server.LocalEndPoints)).ToString());
        await using (var client = await TestClient.ConnectAsync(new UnixDomainSocketEndPoint(path)))
        {
            await client.SendAsync("over unix\n");
            Assert.Equal("over unix\n", await client.ReadLineAsync().Within());
        }

        Assert.Equal(path, await seen.Task.Within());
        test.Server.Stop();
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task Listen_UnixSocket_RemovesAStaleSocketFile()
    {
        using var dir = new TempDirectory();
        var path = dir.File("stale.sock");
        MakeStaleSocketFile(path);
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);

        test.Server.Listen(0, path, family: AddressFamily.Unix);

        await using var client = await TestClient.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await client.SendAsync("fresh\n");
        Assert.Equal("fresh\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Listen_UnixSocket_OnARegularFile_ThrowsAndKeepsTheFile()
    {
        using var dir = new TempDirectory();
        var path = dir.File("data.txt");
        await File.WriteAllTextAsync(path, "precious");
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);

        var error = Assert.Throws<IOException>(() => test.Server.Listen(0, path, family: AddressFamily.Unix));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("not a socket", error.Message, StringComparison.Ordinal);
        Assert.Equal("precious", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task Listen_UnixSocket_InUseByAnotherServer_Throws()
    {
        using var dir = new TempDirectory();
        var path = dir.File("busy.sock");
        await using var first = TestServer.Create(Handlers.EchoLinesAsync);
        first.Server.Listen(0, path, family: AddressFamily.Unix);
        await using var second = TestServer.Create(Handlers.EchoLinesAsync);

        var error = Assert.Throws<IOException>(() => second.Server.Listen(0, path, family: AddressFamily.Unix));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        await using var client = await TestClient.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await client.SendAsync("first\n");
        Assert.Equal("first\n", await client.ReadLineAsync().Within());
    }

    [Fact]
    public async Task Listen_UnixSocket_WhoseListenerQueueIsFull_FailsInsteadOfHanging()
    {
        using var dir = new TempDirectory();
        var path = dir.File("full.sock");
        using var busy = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        busy.Bind(new UnixDomainSocketEndPoint(path));
        busy.Listen(1);
        var queued = new List<Socket>();
        try
        {
            // Fill the queue: non-blocking connects until the kernel refuses more.
            for (var i = 0; i < 8; i++)
            {
                var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
                queued.Add(client);
                try
                {
                    client.Connect(new UnixDomainSocketEndPoint(path));
                }
                catch (SocketException)
                {
                    break;
                }
            }

            await using var test = TestServer.Create(Handlers.EchoLinesAsync);
            var error = await Task.Run(() => Assert.Throws<IOException>(() => test.Server.Listen(0, path, family: AddressFamily.Unix))).Within();

            Assert.Contains("another process is listening", error.Message, StringComparison.Ordinal);
            Assert.True(File.Exists(path));
        }
        finally
        {
            queued.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Listen_UnixSocket_MissingDirectory_ThrowsNamingThePath()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "missing", "x.sock");
        await using var test = TestServer.Create(Handlers.EchoLinesAsync);

        var error = Assert.Throws<IOException>(() => test.Server.Listen(0, path, family: AddressFamily.Unix));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    /// <summary>A socket file nobody listens on, as a crashed process leaves it.</summary>
    private static void MakeStaleSocketFile(string path)
    {
        // A socket file nobody listens on, as a killed process leaves. Socket.Dispose (and its finalizer) unlinks the
        // path it bound, so bind another name, move the file into place, then close.
        var bound = path + ".binding";
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(bound));
            File.Move(bound, path);
        }

        Assert.True(File.Exists(path));
    }
}
