namespace ReplayCluster.Comparison;

/// <summary>Where a reference pair used to learn noise came from.</summary>
internal enum NoiseSource
{
    Secondary,
    Repeat,
}

/// <summary>
/// Adds up compared pairs and noise observations per endpoint and field, within the budget's bounds (overflow counted),
/// and merges summaries. Not thread-safe: one per engine (or per coordinator merge).
/// </summary>
internal sealed class ComparisonAggregator
{
    private readonly ComparisonBudget _budget;
    private readonly Dictionary<string, EndpointState> _endpoints = new(StringComparer.Ordinal);
    private EndpointState? _other;
    private long _sessions;
    private long _pairs;

    public ComparisonAggregator(ComparisonBudget budget) => _budget = budget;

    /// <summary>Counters added from merged summaries.</summary>
    public Dictionary<string, long> MergedCounters { get; } = new(StringComparer.Ordinal);

    public void CountSession() => _sessions++;

    public void RecordPrimary(string endpoint, PairComparison comparison)
    {
        _pairs++;
        var state = Endpoint(endpoint);
        state.Compared++;
        state.Truncated += comparison.Overflow;
        foreach (var (field, reason) in comparison.Ignored)
        {
            if (state.Field(field, _budget) is { } ignored)
            {
                ignored.Ignored++;
                ignored.IgnoredReason ??= reason;
            }
        }

        if (comparison.Differences.Count == 0)
        {
            return;
        }

        state.DifferingRaw++;
        var fields = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var difference in comparison.Differences)
        {
            if (!fields.Add(difference.Field))
            {
                continue;
            }

            if (state.Field(difference.Field, _budget) is { } field)
            {
                field.Differences++;
                field.Example ??= new DifferenceExample(difference.Kind.ToString(), difference.Reference, difference.Target);
            }
            else
            {
                state.OtherFieldDifferences++;
            }
        }

        state.AddSet([.. fields], 1, _budget);
    }

    public void RecordNoise(string endpoint, PairComparison comparison, NoiseSource source)
    {
        var state = Endpoint(endpoint);
        if (source == NoiseSource.Secondary)
        {
            state.SecondarySamples++;
        }
        else
        {
            state.RepeatSamples++;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var difference in comparison.Differences)
        {
            if (seen.Add(difference.Field) && state.Field(difference.Field, _budget) is { } field)
            {
                if (source == NoiseSource.Secondary)
                {
                    field.SecondaryNoise++;
                }
                else
                {
                    field.RepeatNoise++;
                }
            }
        }
    }

    /// <summary>Adds a summary's counts (a node's, on the coordinator; a shard's, on a node).</summary>
    public void Add(ComparisonSummary summary)
    {
        _sessions += summary.Sessions;
        _pairs += summary.PairsCompared;
        foreach (var (name, value) in summary.Counters)
        {
            MergedCounters[name] = MergedCounters.GetValueOrDefault(name) + value;
        }

        foreach (var endpoint in summary.Endpoints)
        {
            var state = Endpoint(endpoint.Endpoint);
            state.Compared += endpoint.Compared;
            state.DifferingRaw += endpoint.DifferingRaw;
            state.SecondarySamples += endpoint.SecondarySamples;
            state.RepeatSamples += endpoint.RepeatSamples;
            state.Truncated += endpoint.DifferencesTruncated;
            state.OtherFieldDifferences += endpoint.OtherFieldDifferences;
            state.OtherSetPairs += endpoint.OtherDifferenceSetPairs;
            foreach (var field in endpoint.Fields)
            {
                if (state.Field(field.Field, _budget) is { } target)
                {
                    target.Differences += field.Differences;
                    target.SecondaryNoise += field.SecondaryNoise;
                    target.RepeatNoise += field.RepeatNoise;
                    target.Ignored += field.Ignored;
                    target.IgnoredReason ??= field.IgnoredReason;
                    target.Example ??= field.Example;
                }
                else
                {
                    state.OtherFieldDifferences += field.Differences;
                }
            }

            foreach (var set in endpoint.DifferenceSets)
            {
                state.AddSet(set.Fields, set.Pairs, _budget);
            }
        }
    }

    public ComparisonSummary ToSummary(IReadOnlyDictionary<string, long> counters)
    {
        var endpoints = new List<EndpointSummary>(_endpoints.Count + 1);
        foreach (var state in _endpoints.Values.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            endpoints.Add(state.ToSummary());
        }

        if (_other is not null)
        {
            endpoints.Add(_other.ToSummary());
        }

        return new ComparisonSummary
        {
            Sessions = _sessions,
            PairsCompared = _pairs,
            Counters = new Dictionary<string, long>(counters, StringComparer.Ordinal),
            Endpoints = endpoints,
        };
    }

    private EndpointState Endpoint(string name)
    {
        if (_endpoints.TryGetValue(name, out var state))
        {
            return state;
        }

        if (name == EndpointSummary.OtherEndpoints || _endpoints.Count >= _budget.MaxEndpoints)
        {
            return _other ??= new EndpointState(EndpointSummary.OtherEndpoints);
        }

        state = new EndpointState(name);
        _endpoints.Add(name, state);
        return state;
    }

    private sealed class EndpointState(string name)
    {
        private readonly Dictionary<string, FieldState> _fields = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (string[] Fields, long Pairs)> _sets = new(StringComparer.Ordinal);

        public string Name { get; } = name;

        public long Compared { get; set; }

        public long DifferingRaw { get; set; }

        public long SecondarySamples { get; set; }

        public long RepeatSamples { get; set; }

        public long Truncated { get; set; }

        public long OtherFieldDifferences { get; set; }

        public long OtherSetPairs { get; set; }

        public FieldState? Field(string field, ComparisonBudget budget)
        {
            if (_fields.TryGetValue(field, out var state))
            {
                return state;
            }

            if (_fields.Count >= budget.MaxFieldsPerEndpoint)
            {
                return null;
            }

            state = new FieldState();
            _fields.Add(field, state);
            return state;
        }

        public void AddSet(IReadOnlyList<string> fields, long pairs, ComparisonBudget budget)
        {
            var key = string.Join('\n', fields);
            if (_sets.TryGetValue(key, out var set))
            {
                _sets[key] = (set.Fields, set.Pairs + pairs);
            }
            else if (_sets.Count < budget.MaxDifferenceSetsPerEndpoint)
            {
                _sets[key] = ([.. fields], pairs);
            }
            else
            {
                OtherSetPairs += pairs;
            }
        }

        public EndpointSummary ToSummary() => new()
        {
            Endpoint = Name,
            Compared = Compared,
            DifferingRaw = DifferingRaw,
            SecondarySamples = SecondarySamples,
            RepeatSamples = RepeatSamples,
            DifferencesTruncated = Truncated,
            OtherFieldDifferences = OtherFieldDifferences,
            OtherDifferenceSetPairs = OtherSetPairs,
            Fields = [.. _fields.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => f.Value.ToSummary(f.Key))],
            DifferenceSets = [.. _sets.Values.OrderByDescending(s => s.Pairs).Select(s => new DifferenceSet(s.Fields, s.Pairs))],
        };
    }

    private sealed class FieldState
    {
        public long Differences { get; set; }

        public long SecondaryNoise { get; set; }

        public long RepeatNoise { get; set; }

        public long Ignored { get; set; }

        public string? IgnoredReason { get; set; }

        public DifferenceExample? Example { get; set; }

        public FieldSummary ToSummary(string field) => new()
        {
            Field = field,
            Differences = Differences,
            SecondaryNoise = SecondaryNoise,
            RepeatNoise = RepeatNoise,
            Ignored = Ignored,
            IgnoredReason = IgnoredReason,
            Example = Example,
        };
    }
}
