using System.Diagnostics.Metrics;

namespace ReplayCluster.Statistics;

/// <summary>What an instrument of a node's catalogue measures.</summary>
public enum InstrumentKind
{
    /// <summary>A running total: only grows while the node lives (a Prometheus <c>counter</c>, <c>..._total</c>).</summary>
    Counter,

    /// <summary>A level: live sessions, bytes buffered, routes (a Prometheus <c>gauge</c>).</summary>
    Gauge,

    /// <summary>A latency distribution in fixed buckets (a Prometheus <c>histogram</c>, in seconds).</summary>
    Histogram,
}

/// <summary>
/// One instrument of a node's catalogue. <see cref="Name"/> is the one name it has everywhere: the node's report
/// and <c>/api/status</c> (<c>sessions_started</c>; a family reports one counter per tag value,
/// <c>sessions_ended_timeout</c>), the statistics line (<c>sessions_started=12</c>), the coordinator's
/// <c>/metrics</c> (<c>replaycluster_node_sessions_started_total</c>) and the node's own <c>/metrics</c>
/// (<c>replaycluster_capture_sessions_started_total</c>).
/// </summary>
/// <param name="Name">The report name, snake_case.</param>
/// <param name="Kind">Running total, level or latency distribution.</param>
/// <param name="Unit">UCUM as OpenTelemetry wants it: <c>By</c>, <c>s</c>, <c>ms</c>, or a count in braces (<c>{packet}</c>).</param>
/// <param name="Description">The help text of the exported metric.</param>
/// <param name="Tag">For a family: the label that tells its series apart (<c>reason</c>); null for one series.</param>
public sealed record NodeInstrument(string Name, InstrumentKind Kind, string Unit, string Description, string? Tag = null);

/// <summary>
/// A node's statistics as one catalogue of <see cref="System.Diagnostics.Metrics"/> instruments on the node's
/// <see cref="Meter"/>: the node's own <c>/metrics</c> exports them (OpenTelemetry, see <c>NodeMetricsExport</c>),
/// its report to the coordinator and its statistics line read them (<see cref="Read"/>), so a counter added here
/// reaches every output at once.
/// </summary>
/// <remarks>
/// Counters and gauges are observable: their callbacks read totals the node keeps anyway (interlocked fields,
/// session progress added up under a lock), so the hot path pays nothing for being observed and nothing at all
/// while no one reads. Latency histograms keep their fixed buckets (<see cref="LatencyHistogram"/>, which the
/// coordinator adds up across nodes) and also record into a <see cref="Histogram{T}"/>, which costs one check
/// while no exporter listens.
/// </remarks>
public sealed class NodeMetrics : IDisposable
{
    private static readonly string[] RejectReasons = [.. Enum.GetValues<Packets.ParseResult>().Select(r => SnakeCase(r.ToString()))];

    private readonly List<NodeInstrument> _catalogue = [];
    private readonly List<LatencyHistogram> _histograms = [];
    private readonly MeterListener _reader;
    private readonly Lock _readLock = new();
    private Dictionary<string, long>? _reading;

    public NodeMetrics(string role)
    {
        ArgumentException.ThrowIfNullOrEmpty(role);
        Role = role;
        Meter = new Meter(MeterName(role));
        _reader = new MeterListener
        {
            // Only the observable instruments: the histograms are read from their buckets.
            InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, Meter) && instrument.IsObservable)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _reader.SetMeasurementEventCallback<long>(OnMeasurement);
        _reader.Start();
    }

    /// <summary>The node's role (<c>capture</c>, <c>intercept</c>, <c>coordinator</c>).</summary>
    public string Role { get; }

    /// <summary>The meter every instrument of this node lives on: <c>ReplayCluster.Capture</c> and so on.</summary>
    public Meter Meter { get; }

    /// <summary>Every instrument, in the order the statistics line shows them.</summary>
    public IReadOnlyList<NodeInstrument> Catalogue => _catalogue;

    /// <summary>The meter's name for <paramref name="role"/>.</summary>
    public static string MeterName(string role) => "ReplayCluster." + char.ToUpperInvariant(role[0]) + role[1..];

    /// <summary>The instrument's name on the meter (dots become underscores in Prometheus names).</summary>
    public string InstrumentName(string name) => $"replaycluster.{Role}.{name}";

    /// <summary>A running total read from <paramref name="read"/>.</summary>
    public void Counter(string name, string unit, string description, Func<long> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        Add(new NodeInstrument(name, InstrumentKind.Counter, unit, description));
        Meter.CreateObservableCounter(InstrumentName(name), read, unit, description);
    }

    /// <summary>A level read from <paramref name="read"/>.</summary>
    public void Gauge(string name, string unit, string description, Func<long> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        Add(new NodeInstrument(name, InstrumentKind.Gauge, unit, description));
        Meter.CreateObservableGauge(InstrumentName(name), read, unit, description);
    }

    /// <summary>
    /// Running totals by <paramref name="tag"/> (end reasons, refusal reasons): one series per value
    /// <paramref name="read"/> returns, reported as <c>{name}_{value}</c>, and their sum as <c>{name}</c>
    /// (exported as the labelled series only: a scraper sums them).
    /// </summary>
    public void CounterFamily(string name, string tag, string unit, string description, Func<IEnumerable<KeyValuePair<string, long>>> read)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        ArgumentNullException.ThrowIfNull(read);
        Add(new NodeInstrument(name, InstrumentKind.Counter, unit, description, tag));
        Meter.CreateObservableCounter(InstrumentName(name),
            () => read().Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>(tag, p.Key))), unit, description);
    }

    /// <summary>
    /// What every node has: the cluster messages it refused by reason (<c>messages_refused</c>), the top-level actor
    /// faults it resumed from (<c>actor_faults_resumed</c>) and what the process costs (getrusage and one small /proc
    /// read, rather than a Process object: it parses /proc/self/stat and more; Environment.WorkingSet builds one too,
    /// by reflection).
    /// </summary>
    public void NodeWide(Membership.MessageRefusals refusals)
    {
        ArgumentNullException.ThrowIfNull(refusals);
        CounterFamily("messages_refused", "reason", "{message}", "Cluster messages this node refused, by reason.", () => refusals.ByReason);
        // Failed connections of the cluster transport (ClusterTcpTransport): a node never stops for one, so they are counted.
        CounterFamily("cluster_connections_failed", "reason", "{connection}", "Cluster transport connections that failed, by reason.",
            () => Cluster.Remoting.ClusterConnectionFailures.ByReason);
        Counter("actor_faults_resumed", "{fault}", "Top-level actors that failed and were resumed.", () => Cluster.ResumingGuardianStrategy.Resumed);
        Counter("process_cpu_milliseconds", "ms", "CPU time this process used, user and system.", () => (long)Environment.CpuUsage.TotalTime.TotalMilliseconds);
        Gauge("process_memory_bytes", "By", "Resident set size of this process.", ResidentBytes);

        // Whether the GC is what stalls a replay: every collection stops the capture, shard and send threads alike.
        Counter("process_gc_pause_milliseconds", "ms", "Time the garbage collector paused this process's threads.", () => (long)GC.GetTotalPauseDuration().TotalMilliseconds);
        // Every collection collects generation 0, so its count is all of them; full (generation-2) ones apart. Two plain
        // counts rather than a family by generation, whose total would count a full collection three times.
        Counter("process_gc_collections", "{collection}", "Garbage collections, all generations.", () => GC.CollectionCount(0));
        Counter("process_gc_full_collections", "{collection}", "Full (generation 2) garbage collections.", () => GC.CollectionCount(2));
        // What fills the young generation, and so the peak RSS under load (its budget) and the number of pauses: divided
        // by the requests replayed, the hot path's allocations per request (bench/README.md). Precise=false: the
        // allocation contexts' unused tail is counted, a few KB per thread, never a stop of the threads.
        Counter("process_allocated_bytes", "By", "Bytes this process allocated on the managed heap.", () => GC.GetTotalAllocatedBytes(precise: false));
    }

    /// <summary>Captured packets the parser refused, by reason (<c>packets_rejected</c>, <c>packets_rejected_ip_fragment</c>, ...).</summary>
    public void PacketsRejected(Packets.ParseRejectCounters rejects)
    {
        ArgumentNullException.ThrowIfNull(rejects);
        CounterFamily("packets_rejected", "reason", "{packet}", "Captured packets the parser refused, by reason.",
            () => rejects.Snapshot().Where(p => p.Key != Packets.ParseResult.Ok && p.Value > 0).Select(p => KeyValuePair.Create(RejectReasons[(int)p.Key], p.Value)));
    }

    /// <summary>A latency histogram: its buckets reported as they are, its records exported in seconds.</summary>
    public void Histogram(string description, LatencyHistogram histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        var name = histogram.Layout.Prefix;
        Add(new NodeInstrument(name, InstrumentKind.Histogram, "s", description));
        _histograms.Add(histogram);
        histogram.PublishTo(Meter, InstrumentName(HistogramInstrumentName(name)), description);
    }

    /// <summary>A histogram's name on the meter: its report prefix without the <c>_us</c> unit (the export is in seconds).</summary>
    public static string HistogramInstrumentName(string prefix) => prefix.EndsWith("_us", StringComparison.Ordinal) ? prefix[..^3] : prefix;

    /// <summary>
    /// Every instrument's current value by its report name: a counter or gauge as <c>name</c>, a family's series as
    /// <c>name_value</c>, a histogram as its cumulative bucket counters, count and sum (see <see cref="LatencyHistogramLayout"/>).
    /// </summary>
    public Dictionary<string, long> Read()
    {
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var family in _catalogue)
        {
            if (family.Tag is not null)
            {
                counters[family.Name] = 0; // a family's total shows before its first series
            }
        }

        lock (_readLock)
        {
            _reading = counters;
            try
            {
                _reader.RecordObservableInstruments();
            }
            finally
            {
                _reading = null;
            }
        }

        foreach (var histogram in _histograms)
        {
            histogram.WriteCounters(counters);
        }

        return counters;
    }

    /// <summary>
    /// The statistics line: every counter and gauge as <c>name=value</c> under its report name, a family as
    /// <c>name=total (value=n ...)</c>, a new <paramref name="groupOf"/> value starting a <c>" | "</c> group; then
    /// <c>" | latency"</c> with each histogram's p50 and p99 (<c>name=-</c> before its first record).
    /// </summary>
    public string Line(IReadOnlyDictionary<string, long> reading, Func<string, string>? groupOf = null)
    {
        ArgumentNullException.ThrowIfNull(reading);
        var line = new System.Text.StringBuilder();
        string? group = null;
        foreach (var instrument in _catalogue.Where(i => i.Kind != InstrumentKind.Histogram))
        {
            var of = groupOf?.Invoke(instrument.Name) ?? string.Empty;
            line.Append(line.Length == 0 ? string.Empty : of == group ? " " : " | ");
            group = of;
            line.Append(instrument.Name).Append('=').Append(reading.GetValueOrDefault(instrument.Name));
            if (instrument.Tag is not null)
            {
                var prefix = instrument.Name + "_";
                var series = reading.Where(c => c.Key.StartsWith(prefix, StringComparison.Ordinal) && !_catalogue.Any(i => i.Name == c.Key))
                    .OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key[prefix.Length..]}={c.Value}").ToList();
                if (series.Count > 0)
                {
                    line.Append(" (").AppendJoin(' ', series).Append(')');
                }
            }
        }

        // The histograms since start as percentiles, under their first word, as the coordinator computes them from the
        // same buckets (bench/sidebyside.sh reads a capture node's " | latency capture p50=Xms p99=Yms relay ...").
        for (var i = 0; i < _histograms.Count; i++)
        {
            var layout = _histograms[i].Layout;
            var percentiles = LatencyPercentiles.From(reading, layout);
            line.Append(i == 0 ? " | latency " : " ").Append(layout.Prefix[..layout.Prefix.IndexOf('_', StringComparison.Ordinal)]).Append(percentiles.Count == 0
                ? "=-"
                : string.Create(System.Globalization.CultureInfo.InvariantCulture, $" p50={percentiles.P50Ms:0.###}ms p99={percentiles.P99Ms:0.###}ms"));
        }

        return line.ToString();
    }

    public void Dispose()
    {
        _reader.Dispose();
        Meter.Dispose();
    }

    private void Add(NodeInstrument instrument)
    {
        ArgumentException.ThrowIfNullOrEmpty(instrument.Name);
        if (_catalogue.Any(i => i.Name == instrument.Name))
        {
            throw new InvalidOperationException($"instrument '{instrument.Name}' is in the catalogue twice");
        }

        _catalogue.Add(instrument);
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        // Called on the reading thread, inside RecordObservableInstruments (the lock above).
        if (_reading is not { } reading)
        {
            return;
        }

        var name = instrument.Name[(instrument.Name.LastIndexOf('.') + 1)..];
        if (tags.Length == 0)
        {
            reading[name] = value;
            return;
        }

        reading[$"{name}_{tags[0].Value}"] = value;
        reading[name] = reading.GetValueOrDefault(name) + value;
    }

    /// <summary>A reason's report name: <c>IpFragment</c> as <c>ip_fragment</c> (a family's tag values, <c>packets_rejected_ip_fragment</c>).</summary>
    public static string SnakeCase(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : string.Empty) + char.ToLowerInvariant(c) : c.ToString()));

    /// <summary>Resident set size: the second field of /proc/self/statm, in pages.</summary>
    internal static long ResidentBytes()
    {
        try
        {
            var statm = File.ReadAllText("/proc/self/statm").AsSpan();
            var start = statm.IndexOf(' ') + 1;
            var length = statm[start..].IndexOf(' ');
            return long.Parse(statm.Slice(start, length), System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (IOException)
        {
            return Environment.WorkingSet; // not Linux
        }
        catch (UnauthorizedAccessException)
        {
            return Environment.WorkingSet;
        }
    }
}
