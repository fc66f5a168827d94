using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// The <c>Turbo</c> configuration section, read into typed settings: the options value the host's
/// <see cref="IOptionsMonitor{TOptions}"/> gives at start and after each configuration change. A bad value does not
/// throw here: <see cref="Error"/> keeps it, naming the key, for the start to fail with and a reload to log.
/// </summary>
internal sealed class TurboSettings
{
    /// <summary>Every registered server's settings; empty when <see cref="Error"/> is set.</summary>
    public IReadOnlyList<ServerSettings> Servers { get; private set; } = [];

    /// <summary><c>Turbo:InlineScheduling</c>, when set.</summary>
    public bool? InlineScheduling { get; private set; }

    /// <summary>What is wrong with the section, its message starting with the key; null when it is valid.</summary>
    public InvalidOperationException? Error { get; private set; }

    /// <summary>Reads the section for <paramref name="serverNames"/>; relative certificate paths start at <paramref name="contentRoot"/>.</summary>
    public void Load(IConfiguration configuration, IReadOnlyList<string> serverNames, string contentRoot)
    {
        try
        {
            Servers = TurboConfigurationReader.Read(configuration, serverNames, contentRoot);
            InlineScheduling = TurboConfigurationReader.ReadInlineScheduling(configuration);
            Error = null;
        }
        catch (InvalidOperationException ex)
        {
            Fail(ex);
        }
#pragma warning disable CA1031 // Whatever the reader fails with must fail the start or be logged on reload, never escape a reload.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Fail(new InvalidOperationException($"{TurboConfigurationReader.SectionName}: the section could not be read: {ex.Message}", ex));
        }
    }

    private void Fail(InvalidOperationException error)
    {
        Servers = [];
        InlineScheduling = null;
        Error = error;
    }

    /// <summary>Throws the start's <see cref="OptionsValidationException"/> when the section is not valid.</summary>
    public void ThrowIfInvalid()
    {
        if (Error is { } error)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(TurboSettings), [error.Message]);
        }
    }
}
