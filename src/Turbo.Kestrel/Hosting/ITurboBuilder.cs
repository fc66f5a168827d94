using Microsoft.Extensions.DependencyInjection;

namespace Turbo.Kestrel;

/// <summary>
/// Returned by <c>UseTurboTcp()</c>: registers the TCP servers a host runs.
/// </summary>
public interface ITurboBuilder
{
    /// <summary>The host's services.</summary>
    IServiceCollection Services { get; }

    /// <summary>
    /// Registers a server under <paramref name="name"/>. The host creates it with dependency injection (its
    /// constructor may take any registered service), applies the <c>Turbo:Servers:&lt;name&gt;</c> configuration
    /// section (endpoints, <c>MaxBufferSize</c>), starts it with the host and drains it when the host stops.
    /// The server is also available as a keyed <see cref="TcpServer"/> service under <paramref name="name"/>.
    /// </summary>
    /// <typeparam name="TServer">The server type.</typeparam>
    /// <param name="name">The server's name: its configuration section and its name in logs. Unique, case-insensitive.</param>
    /// <returns>The same builder.</returns>
    ITurboBuilder AddServer<TServer>(string name)
        where TServer : TcpServer;
}
