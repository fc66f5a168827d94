using Microsoft.Extensions.Options;

namespace Turbo.Kestrel.Hosting;

/// <summary>Fails the host's start when the <c>Turbo</c> section has a bad value; the message names its key.</summary>
internal sealed class TurboSettingsValidator : IValidateOptions<TurboSettings>
{
    public ValidateOptionsResult Validate(string? name, TurboSettings options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Error is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
    }
}
