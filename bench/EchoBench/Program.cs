// EchoBench: Turbo.Kestrel echo servers for the shared benchmark kit's --peer template.
//
//   dotnet EchoBench.dll --port P --mode raw|lines [--host 127.0.0.1] [--inline] [--no-alloc]
//
//   --inline : IOLoop.InlineScheduling = true (handlers run on the thread that completed the socket read).
//   --no-alloc : lines mode reads each line into one reused buffer (ReadUntilAsync(delimiter, buffer)).
//
//   raw   : the streaming read (ReadUntilCloseAsync with a chunk callback) writes each chunk back as it arrives.
//   lines : ReadUntilAsync("\n") then WriteAsync(line), the Turbo echo.
//
// The library's default settings apply; flags say otherwise.
using System.Runtime;
using EchoBench;
using Turbo.Kestrel;

var port = 0;
var mode = "raw";
var host = "127.0.0.1";
var inline = false;
var noAlloc = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--port" when i + 1 < args.Length: port = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--mode" when i + 1 < args.Length: mode = args[++i]; break;
        case "--host" when i + 1 < args.Length: host = args[++i]; break;
        case "--inline": inline = true; break;
        case "--no-alloc": noAlloc = true; break;
        default: return Usage();
    }
}

if (port <= 0 || mode is not ("raw" or "lines"))
{
    return Usage();
}

var loop = IOLoop.Instance;
loop.InlineScheduling = inline;
TcpServer server = mode == "raw" ? new RawEchoServer(loop) : noAlloc ? new BufferLineEchoServer(loop) : new LineEchoServer(loop);
server.Listen(port, host, backlog: 512);
Console.Error.WriteLine(
    $"turbo-kestrel EchoBench listening on {host}:{port} mode={mode} inline={inline} no_alloc={noAlloc} " +
    $"inline_completions_env={Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") ?? "unset"} " +
    $"gc={(GCSettings.IsServerGC ? "server" : "workstation")} cpus={Environment.ProcessorCount} runtime={Environment.Version}");
loop.Start();
return 0;

static int Usage()
{
    Console.Error.WriteLine("usage: EchoBench --port P --mode raw|lines [--host 127.0.0.1] [--inline] [--no-alloc]");
    return 2;
}
