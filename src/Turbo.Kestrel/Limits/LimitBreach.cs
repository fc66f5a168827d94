namespace Turbo.Kestrel.Limits;

/// <summary>A limit a connection broke, and what happened, in words for the log and the exception.</summary>
internal readonly record struct LimitBreach(LimitKind Kind, string Reason);
