namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>The lab could not be built, queried or torn down.</summary>
public class LabException : Exception
{
    public LabException()
    {
    }

    public LabException(string message)
        : base(message)
    {
    }

    public LabException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The machine cannot host a lab: not root, or a tool is missing. The message says what.</summary>
public sealed class LabPreconditionException : LabException
{
    public LabPreconditionException()
    {
    }

    public LabPreconditionException(string message)
        : base(message)
    {
    }

    public LabPreconditionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
