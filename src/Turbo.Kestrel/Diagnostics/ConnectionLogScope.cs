using System.Collections;

namespace Turbo.Kestrel.Diagnostics;

/// <summary>
/// The log scope around a connection's handler: every line logged while it runs (the library's, and the
/// application's through any logger of the same factory) carries the name of the server it belongs to. The
/// connection's id comes from Kestrel's own connection scope, open around the whole connection.
/// </summary>
internal sealed class ConnectionLogScope(string server) : IReadOnlyList<KeyValuePair<string, object>>
{
    /// <summary>The scope's key: the server's name, as given to <c>AddServer</c> (the <c>turbo.server</c> metric tag).</summary>
    public const string ServerKey = "TurboServer";

    public int Count => 1;

    public KeyValuePair<string, object> this[int index] => index == 0
        ? new(ServerKey, server)
        : throw new ArgumentOutOfRangeException(nameof(index));

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{ServerKey}:{server}";
}
