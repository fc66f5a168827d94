namespace Turbo.Kestrel.Streams;

/// <summary>The part of a read operation that does not depend on its result type.</summary>
internal interface IReadOperation
{
    /// <summary>Releases what the operation holds (pooled buffers); called once when the read ends.</summary>
    void Release();
}
