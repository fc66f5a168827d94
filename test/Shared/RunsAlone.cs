namespace Turbo.Kestrel.Testing;

/// <summary>
/// Tests that measure the whole process (its open file descriptors) and so must not share it with other tests:
/// xunit runs this collection alone, after every parallel one.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "Process-wide measurements, run alone";
}
