
namespace Turbo.Kestrel.Streams;

/// <summary>
/// Where a pending delimiter read resumes searching: an offset from the start of the unconsumed bytes and the same
/// place as a <see cref="SequencePosition"/>, so that each search starts there without walking the segments before
/// it (a long line arriving in many segments is scanned once).
/// </summary>
internal struct SearchCursor
{
    public long Offset;
    public SequencePosition Position;
    public bool IsSet;
}
