using System.Net;
using Turbo.Kestrel.Testing;

namespace Turbo.Kestrel.FunctionalTests.Health;

/// <summary>The example EchoHost maps the Turbo liveness and readiness checks on its HTTP side.</summary>
public class EchoHostHealthTests
{
    [Fact]
    public async Task EchoHost_AnswersHealthyOnHealthzAndReady_WhileItsEchoServes()
    {
        await using var host = await EchoHostProcess.StartAsync();
        using var http = new HttpClient { BaseAddress = host.HttpAddress };

        foreach (var path in new[] { "/healthz", "/ready" })
        {
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative)).Within();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
        }

        await using var client = await TestClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, host.Port));
        await client.SendAsync("healthy\n");
        Assert.Equal("healthy\n", await client.ReadLineAsync().Within());
    }
}
