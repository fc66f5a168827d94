namespace Turbo.Kestrel.Streams;

/// <summary>What one attempt of a read operation over the buffered bytes came to.</summary>
internal enum ReadStatus
{
    /// <summary>The read has its result.</summary>
    Complete,

    /// <summary>The buffered bytes do not suffice yet; more may arrive.</summary>
    NeedMore,

    /// <summary>The read can never complete (the peer closed, a reset, a limit); its exception says why.</summary>
    Failed,
}
