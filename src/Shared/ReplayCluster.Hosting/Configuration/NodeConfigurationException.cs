namespace ReplayCluster.Configuration;

/// <summary>
/// A configuration value that stops a node before it starts. The message always names the setting
/// (its HOCON path, and the option or variable that feeds it) so that the user knows what to fix.
/// </summary>
public sealed class NodeConfigurationException : Exception
{
    public NodeConfigurationException()
    {
    }

    public NodeConfigurationException(string message)
        : base(message)
    {
    }

    public NodeConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for one setting: "<paramref name="setting"/>: <paramref name="problem"/>".</summary>
    public static NodeConfigurationException ForSetting(string setting, string problem, Exception? inner = null) =>
        inner is null
            ? new NodeConfigurationException($"{setting}: {problem}")
            : new NodeConfigurationException($"{setting}: {problem}", inner);
}
