using System.Collections;

namespace Turbo.Kestrel.Diagnostics;

/// <summary>
/// The log scope around a connection's handler: every line logged while it runs (the library's, and the
/// application's through any logger of the same factory) carries the connection's id and the name of its server,
/// whatever filter Kestrel's own categories have (Kestrel opens its <c>ConnectionId</c> scope only while its logger is
/// enabled).
/// </summary>
internal sealed class ConnectionLogScope(string connectionId, string server) : IReadOnlyList<KeyValuePair<string, object>>
{
    /// <summary>The key of the connection's id, as Kestrel names it.</summary>
    public const string ConnectionIdKey = "ConnectionId";

    /// <summary>The key of the server's name, as given to <c>AddServer</c> (the <c>turbo.server</c> metric tag).</summary>
    public const string ServerKey = "TurboServer";

    private string? _text;

    public int Count => 2;

    public KeyValuePair<string, object> this[int index] => index switch
    {
        0 => new(ConnectionIdKey, connectionId),
        1 => new(ServerKey, server),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => _text ??= $"{ConnectionIdKey}:{connectionId} {ServerKey}:{server}";
}
