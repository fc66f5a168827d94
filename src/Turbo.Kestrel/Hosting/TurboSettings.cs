using Microsoft.Extensions.Configuration;

namespace Turbo.Kestrel.Hosting;

/// <summary>
/// The <c>Turbo</c> configuration section, read into typed settings as an options value. A bad value does not throw
/// here: <see cref="Error"/> keeps the message (starting with the full key), and <see cref="TurboSettingsValidator"/>
/// fails the host's start with it (<c>ValidateOnStart</c>).
/// </summary>
internal sealed class TurboSettings
{
    /// <summary>Every registered server's settings; empty when <see cref="Error"/> is set.</summary>
    public IReadOnlyList<ServerSettings> Servers { get; private set; } = [];

    /// <summary><c>Turbo:InlineScheduling</c>, when set.</summary>
    public bool? InlineScheduling { get; private set; }

    /// <summary>What is wrong with the section, naming the key; null when it is valid.</summary>
    public string? Error { get; private set; }

    /// <summary>Reads the section for <paramref name="serverNames"/>.</summary>
    public void Load(IConfiguration configuration, IReadOnlyList<string> serverNames)
    {
        try
        {
            Servers = TurboConfigurationReader.Read(configuration, serverNames);
            InlineScheduling = TurboConfigurationReader.ReadInlineScheduling(configuration);
            Error = null;
        }
        catch (InvalidOperationException ex)
        {
            Servers = [];
            InlineScheduling = null;
            Error = ex.Message;
        }
    }
}
