using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Xml.Linq;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.FunctionalTests.Packaging;

/// <summary>
/// Packs the library as a release would, restores the package from a local folder into a fresh console project, and
/// runs an echo with it, as a consumer would: nothing but the package and the .NET SDK.
/// </summary>
public class PackageTests
{
    private const string Version = "0.0.0-packtest";

    [Fact]
    public async Task Pack_ThenRestoreIntoANewConsoleProject_ServesAnEcho()
    {
        using var work = new TempDirectory();
        var feed = Directory.CreateDirectory(work.File("feed")).FullName;

        // The solution build made the library in this configuration: pack it as it is.
        await RunAsync("dotnet", work.Path, "pack", LibraryProject(), "--no-build", "-c", Configuration(), "-o", feed, $"-p:Version={Version}");

        var package = Path.Combine(feed, $"Turbo.Kestrel.{Version}.nupkg");
        Assert.True(File.Exists(package), "no .nupkg");
        Assert.True(File.Exists(Path.Combine(feed, $"Turbo.Kestrel.{Version}.snupkg")), "no symbols package");
        using (var zip = ZipFile.OpenRead(package))
        {
            var names = zip.Entries.Select(e => e.FullName).ToArray();
            Assert.Contains("lib/net10.0/Turbo.Kestrel.dll", names);
            Assert.Contains("lib/net10.0/Turbo.Kestrel.xml", names);
            Assert.Contains("README.md", names);
            Assert.Contains("LICENSE", names);
            var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
            using var reader = new StreamReader(nuspec.Open());
            var metadata = XDocument.Parse(await reader.ReadToEndAsync()).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
            string Field(string name) => metadata.Elements().Single(e => e.Name.LocalName == name).Value;
            Assert.Equal("Turbo.Kestrel", Field("id"));
            Assert.Equal("MIT", Field("license"));
            Assert.Equal("README.md", Field("readme"));
            Assert.False(string.IsNullOrWhiteSpace(Field("description")));
            var frameworks = metadata.Descendants().Where(e => e.Name.LocalName == "frameworkReference").Select(e => e.Attribute("name")?.Value);
            Assert.Contains("Microsoft.AspNetCore.App", frameworks);
            Assert.DoesNotContain(metadata.Descendants(), e => e.Name.LocalName == "dependency");
        }

        var app = Directory.CreateDirectory(work.File("consumer")).FullName;
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <RestorePackagesPath>{work.File("packages")}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Turbo.Kestrel" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            using System.Net;
            using Turbo.Kestrel;

            var server = new LineEcho();
            server.Listen(0, "127.0.0.1");
            Console.WriteLine($"PORT {((IPEndPoint)server.LocalEndPoints[0]).Port}");
            IOLoop.Instance.Start();

            sealed class LineEcho : TcpServer
            {
                protected override async Task HandleStreamAsync(IOStream stream, string address)
                {
                    while (true)
                    {
                        await stream.WriteAsync(await stream.ReadUntilAsync("\n"));
                    }
                }
            }
            """);

        await RunAsync("dotnet", app, "build", "-c", "Release", "-o", Path.Combine(app, "out"));

        using var consumer = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(app, "out", "Consumer.dll")])
        {
            RedirectStandardOutput = true,
            WorkingDirectory = app,
        })!;
        try
        {
            var port = await ReadPortAsync(consumer).Within();
            await using var client = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await client.SendAsync("packed and restored\n");
            Assert.Equal("packed and restored\n", await client.ReadLineAsync().Within());
        }
        finally
        {
            consumer.Kill(entireProcessTree: true);
            await consumer.WaitForExitAsync().Within();
        }
    }

    private static async Task<int> ReadPortAsync(Process process)
    {
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("PORT ", StringComparison.Ordinal))
            {
                return int.Parse(line["PORT ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("The consumer exited without printing its port.");
    }

    /// <summary>Runs a command to its end (at most two minutes) and fails the test with its output when it fails.</summary>
    private static async Task RunAsync(string file, string directory, params string[] arguments)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        info.Environment["UseSharedCompilation"] = "false";
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        var text = new StringBuilder().Append(await output).Append(await errors).ToString();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{text}");
    }

    /// <summary>The test assembly's configuration (Release under ./test.sh), which the solution build also built the library in.</summary>
    private static string Configuration() => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    private static string LibraryProject()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var root = testBin.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        return Path.Combine(root, "src", "Turbo.Kestrel", "Turbo.Kestrel.csproj");
    }
}
