namespace Turbo.Kestrel.Limits;

/// <summary>Which per-connection limit closed a connection.</summary>
internal enum LimitKind
{
    IdleTimeout,
    WriteTimeout,
    MinReadRate,
}
