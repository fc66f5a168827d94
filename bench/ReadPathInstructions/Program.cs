// ReadPathInstructions MODE LINES: reads LINES 64-byte lines through an IOStream over inline in-memory pipes.
//   waiting  : each line arrives in 3 pieces after the read started, so every read waits for the transport
//   buffered : 16 lines arrive at once, so 15 of 16 reads are served from the buffer
// Run it twice under callgrind with different LINES; the difference over the difference in lines is the cost of one
// line in instructions, free of start-up and JIT (bench/count-instructions.sh).
using System.Globalization;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using ReadPathInstructions;
using Turbo.Kestrel;

if (args.Length != 2 || args[0] is not ("waiting" or "buffered"))
{
    Console.Error.WriteLine("usage: ReadPathInstructions waiting|buffered LINES");
    return 2;
}

var lines = int.Parse(args[1], CultureInfo.InvariantCulture);
var input = InlinePipe.Create();
var output = InlinePipe.Create();
var context = new DefaultConnectionContext("count", new DuplexPipe(input.Reader, output.Writer), new DuplexPipe(output.Reader, input.Writer));
var stream = new IOStream(context, long.MaxValue, NullLogger.Instance);
var line = new byte[64];
Array.Fill(line, (byte)'x');
line[^1] = (byte)'\n';
var newline = "\n"u8.ToArray();
long total = 0;
if (args[0] == "waiting")
{
    var pieces = line.Chunk(22).ToArray();
    for (var i = 0; i < lines; i++)
    {
        var read = stream.ReadUntilAsync(newline);
        foreach (var piece in pieces)
        {
            await input.Writer.WriteAsync(piece);
        }

        total += (await read).Length;
    }
}
else
{
    var batch = Enumerable.Repeat(line, 16).SelectMany(b => b).ToArray();
    for (var i = 0; i < lines / 16; i++)
    {
        await input.Writer.WriteAsync(batch);
        for (var j = 0; j < 16; j++)
        {
            total += (await stream.ReadUntilAsync(newline)).Length;
        }
    }
}

Console.WriteLine(total);
return 0;
