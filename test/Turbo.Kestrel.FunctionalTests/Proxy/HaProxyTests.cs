using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.FunctionalTests.Proxy;

/// <summary>
/// A real HAProxy (Debian's package; CI installs it) in tcp mode in front of a Turbo server: the handler sees the
/// client address HAProxy saw. The client connects from 127.0.0.2, so that address can only come from the header.
/// </summary>
public sealed class HaProxyTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("send-proxy", ProxyProtocolMode.V1)]
    [InlineData("send-proxy-v2", ProxyProtocolMode.V2)]
    public async Task HaProxy_HandlerSeesTheClientAddressHaProxySaw(string sendProxy, ProxyProtocolMode mode)
    {
        var seen = new TaskCompletionSource<(string Address, EndPoint? Proxy)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Create(async (stream, address) =>
        {
            seen.TrySetResult((address, stream.ProxyEndPoint));
            await Handlers.EchoLinesAsync(stream, address);
        });
        server.Server.ProxyProtocol.Mode = mode;
        server.Server.ProxyProtocol.TrustedProxies.Add(IPNetwork.Parse("127.0.0.1/32"));
        server.Server.Listen(0, "127.0.0.1");
        var frontendPort = FreePort();
        var config = _dir.File("haproxy.cfg");
        await File.WriteAllLinesAsync(config,
        [
            "global",
            "    maxconn 100",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 30s",
            "    timeout server 30s",
            "frontend front",
            $"    bind 127.0.0.1:{frontendPort}",
            "    default_backend turbo",
            "backend turbo",
            $"    server turbo 127.0.0.1:{server.Port} {sendProxy}",
        ]);
        using var haproxy = Process.Start(new ProcessStartInfo(RequiredTool.Find("haproxy", debianPackage: "haproxy"), $"-f {config} -db")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            using var client = await ConnectFromAsync(IPAddress.Parse("127.0.0.2"), new IPEndPoint(IPAddress.Loopback, frontendPort), haproxy);
            await client.SendAsync("through haproxy\n"u8.ToArray()).Within();
            var buffer = new byte[16];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = await client.ReceiveAsync(buffer.AsMemory(read)).AsTask().Within();
                Assert.NotEqual(0, n);
                read += n;
            }

            Assert.Equal("through haproxy\n"u8.ToArray(), buffer);
            var (address, proxy) = await seen.Task.Within();
            Assert.Equal("127.0.0.2", address);
            Assert.Equal(IPAddress.Loopback, Assert.IsType<IPEndPoint>(proxy).Address);
        }
        finally
        {
            haproxy.Kill();
            await haproxy.WaitForExitAsync().Within();
        }
    }

    /// <summary>Connects from <paramref name="source"/>, retrying while HAProxy is still starting to listen.</summary>
    private static async Task<Socket> ConnectFromAsync(IPAddress source, IPEndPoint target, Process haproxy)
    {
        using var timeout = new CancellationTokenSource(Timeouts.Default);
        while (true)
        {
            if (haproxy.HasExited)
            {
                Assert.Fail("haproxy exited: " + await haproxy.StandardError.ReadToEndAsync());
            }

            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(target, timeout.Token);
                return socket;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                socket.Dispose();

                // HAProxy is still starting: its readiness has no event to wait on, so poll briefly.
                await Task.Delay(50, timeout.Token);
            }
        }
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
