namespace Turbo.Kestrel.Testing;

/// <summary>
/// A server-side <see cref="IOStream"/> and the test as its peer, over some transport (in-memory pipes, TCP, TLS): the
/// stream behaviour tests run the same cases over each, as Tornado's iostream tests do with mixins.
/// </summary>
internal interface ITestPeer : IAsyncDisposable
{
    /// <summary>The server's stream.</summary>
    IOStream Stream { get; }

    /// <summary>Sends bytes to the server (text as Latin-1).</summary>
    Task SendAsync(string text);

    /// <inheritdoc cref="SendAsync(string)"/>
    Task SendAsync(byte[] bytes);

    /// <summary>The peer closes its sending side (FIN; over TLS, close_notify first).</summary>
    Task SendFinAsync();

    /// <summary>Waits until the server has written at least <paramref name="length"/> bytes, and returns all of them as text (nothing is taken).</summary>
    Task<string> PeekServerOutputAsync(int length);

    /// <summary>Everything the server wrote, once it ended its output.</summary>
    Task<string> ReadServerOutputToEndAsync();
}
