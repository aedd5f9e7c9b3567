using Xunit;

namespace ReplayCluster.Lab.Tests.Lab;

/// <summary>One default lab shared by every test class in <see cref="LabCollection"/>.</summary>
public sealed class LabFixture : IAsyncLifetime
{
    private Lab? _lab;

    /// <summary>The shared lab; tests must leave it as they found it (no extra routes, no leftover processes).</summary>
    public Lab Lab => _lab ?? throw new InvalidOperationException("The lab fixture is not initialized.");

    public async ValueTask InitializeAsync() => _lab = await Lab.StartAsync(new LabOptions(), TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_lab is not null)
        {
            await _lab.DisposeAsync();
        }
    }
}

/// <summary>Test classes marked <c>[Collection(LabCollection.Name)]</c> share one <see cref="LabFixture"/> and run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class LabCollection : ICollectionFixture<LabFixture>
{
    public const string Name = "Lab";
}
