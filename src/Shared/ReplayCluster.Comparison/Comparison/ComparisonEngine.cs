namespace ReplayCluster.Comparison;

/// <summary>Which side of a compared session bytes come from.</summary>
public enum ComparisonSide
{
    /// <summary>The online (production) service: the primary reference.</summary>
    Online,

    /// <summary>The target (the new build) under test.</summary>
    Target,

    /// <summary>A second target running the online build, fed the same sessions: noise is what differs between it and online.</summary>
    Secondary,
}

/// <summary>Which direction of the TCP session bytes belong to.</summary>
public enum StreamDirection
{
    ClientToServer,
    ServerToClient,
}

/// <summary>
/// A node's comparison engine: opens compared sessions, pairs their exchanges by request order, compares them, learns
/// noise, and adds everything up in a bounded, mergeable <see cref="ComparisonSummary"/>. Memory is bounded by the
/// options (per stream buffers, per node pending exchanges and bytes, remembered responses, summary sizes) and every
/// drop is counted by reason. Not thread-safe: one owner (an actor, a shard thread); several engines' summaries merge.
/// </summary>
public sealed class ComparisonEngine
{
    private ComparisonAggregator _aggregator;
    private Dictionary<string, long> _countersSent = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, Exchange> _remembered = [];
    private readonly Queue<ulong> _rememberedOrder = new();

    /// <param name="options">Checked with <see cref="ComparisonOptionsValidator"/>; invalid options throw <see cref="ArgumentException"/> naming the setting.</param>
    /// <param name="counters">
    /// Refusal and drop counters, shared with other engines if given (for one node-wide set of metrics). Each engine's
    /// <see cref="Snapshot"/> carries the shared counts, so engines whose summaries are merged should not share them.
    /// </param>
    public ComparisonEngine(ComparisonOptions options, ComparisonCounters? counters = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = ComparisonOptionsValidator.Validate(options);
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        Options = options;
        Counters = counters ?? new ComparisonCounters();
        Comparer = new ResponseComparer(options);
        _aggregator = new ComparisonAggregator(options.Budget);
    }

    public ComparisonOptions Options { get; }

    public ComparisonCounters Counters { get; }

    /// <summary>Exchanges parsed on one side and waiting for the other side's, across the node's sessions.</summary>
    public int PendingExchanges { get; private set; }

    /// <summary>Body bytes those exchanges hold.</summary>
    public long PendingBodyBytes { get; private set; }

    internal ResponseComparer Comparer { get; }

    /// <summary>Opens a session; with <paramref name="withSecondary"/> its exchanges are also compared with the secondary reference's.</summary>
    public ComparedSession OpenSession(bool withSecondary = false) => new(this, withSecondary);

    /// <summary>Everything compared so far (cumulative), with the counters.</summary>
    public ComparisonSummary Snapshot() => _aggregator.ToSummary(Counters.Snapshot());

    /// <summary>
    /// What was compared since the last call (or since the start), with the counters' growth since then, and starts
    /// over: a node sends these deltas and the coordinator merges them per run, so a new run starts from zero without
    /// asking the nodes. Pending exchanges and remembered responses (noise learning) are kept.
    /// </summary>
    public ComparisonSummary TakeDelta()
    {
        var counters = Counters.Snapshot();
        var delta = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, value) in counters)
        {
            if (value - _countersSent.GetValueOrDefault(name) is > 0 and var grown)
            {
                delta[name] = grown;
            }
        }

        var summary = _aggregator.ToSummary(delta);
        _aggregator = new ComparisonAggregator(Options.Budget);
        _countersSent = counters;
        return summary;
    }

    /// <summary>
    /// Charges the pending budget for an exchange, or returns a placeholder that keeps its place without its content.
    /// An exchange that completes a pair is compared at once, so it is admitted whatever the budget says: a full budget
    /// must not stop the pairs that would empty it.
    /// </summary>
    internal Exchange Admit(Exchange exchange, bool completesPair)
    {
        var budget = Options.Budget;
        ComparisonDrop? drop = completesPair ? null
            : PendingExchanges >= budget.MaxPendingExchanges ? ComparisonDrop.PendingExchangesFull
            : PendingBodyBytes + exchange.HeldBytes > budget.MaxPendingBodyBytes ? ComparisonDrop.PendingBytesFull
            : null;
        if (drop is not null)
        {
            return new Exchange { Dropped = drop };
        }

        PendingExchanges++;
        PendingBodyBytes += exchange.HeldBytes;
        return exchange;
    }

    internal void Release(Exchange exchange)
    {
        if (exchange.Dropped is null)
        {
            PendingExchanges--;
            PendingBodyBytes -= exchange.HeldBytes;
        }
    }

    internal void ComparePair(Exchange online, Exchange target, Exchange? secondary)
    {
        if ((online.Dropped ?? target.Dropped) is { } drop)
        {
            Counters.Count(drop);
            return;
        }

        if (online.Refusal is not null)
        {
            Counters.Count(ComparisonDrop.ReferenceRefused);
            return;
        }

        if (online.Response is null && online.Opaque is null)
        {
            Counters.Count(ComparisonDrop.ReferenceUnanswered);
            return;
        }

        var endpoint = online.Request is { } request ? EndpointTemplate.Of(request.Method, request.Target) : EndpointTemplate.NonHttp;
        _aggregator.RecordPrimary(endpoint, Comparer.Compare(online, target));
        if (secondary is { Dropped: null, Refusal: null } && (secondary.Response is not null || secondary.Opaque is not null))
        {
            _aggregator.RecordNoise(endpoint, Comparer.Compare(online, secondary), NoiseSource.Secondary);
        }

        if (Options.Noise.LearnFromRepeatedRequests && Options.Budget.MaxRememberedResponses > 0)
        {
            LearnFromRepeat(endpoint, online);
        }
    }

    internal void SessionCompleted() => _aggregator.CountSession();

    /// <summary>Compares this online response with the last one to the identical request, then remembers it (bounded, oldest forgotten).</summary>
    private void LearnFromRepeat(string endpoint, Exchange online)
    {
        var key = RequestKey(online);
        if (_remembered.TryGetValue(key, out var previous))
        {
            _aggregator.RecordNoise(endpoint, Comparer.Compare(previous, online), NoiseSource.Repeat);
        }
        else
        {
            if (_remembered.Count >= Options.Budget.MaxRememberedResponses && _rememberedOrder.TryDequeue(out var oldest))
            {
                _remembered.Remove(oldest);
            }

            _rememberedOrder.Enqueue(key);
        }

        _remembered[key] = Shrink(online);
    }

    private Exchange Shrink(Exchange exchange)
    {
        if (exchange.Response is { } response && response.Body.Length > Options.Budget.MaxRememberedBodyBytes)
        {
            return exchange with { Response = response with { Body = ReadOnlyMemory<byte>.Empty, Completeness = BodyCompleteness.HashOnly } };
        }

        return exchange;
    }

    private static ulong Mix(ulong hash, ulong value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return Fnv64.Append(hash, bytes);
    }

    private static ulong RequestKey(Exchange exchange)
    {
        var hash = Fnv64.Empty;
        if (exchange.Request is { } request)
        {
            hash = Fnv64.Append(hash, request.Method);
            hash = Fnv64.Append(hash, " ");
            hash = Fnv64.Append(hash, request.Target);
            return Mix(Mix(hash, (ulong)request.BodyLength), request.BodyHash);
        }

        var opaque = exchange.Opaque!;
        return Mix(Mix(hash, (ulong)opaque.RequestBytes), opaque.RequestHash);
    }
}

/// <summary>
/// One compared TCP session: each side's two directions fed in order (chunks of any size, already reassembled by
/// sequence number), exchanges paired by request order and compared as soon as every side has answered. Feed the
/// target's client→server bytes too (for a replay, the same bytes as online's): a response's framing depends on the
/// request it answers. Call <see cref="Complete"/> when every side's session has ended (or its deadline passed): a
/// request still unanswered then is compared as "no response". Disposing an incomplete session abandons it (counted).
/// Not thread-safe; belongs to its engine's owner.
/// </summary>
public sealed class ComparedSession : IDisposable
{
    private readonly ComparisonEngine _engine;
    private readonly SideStream[] _sides;
    private readonly Queue<Exchange>[] _queues;
    private bool _done;

    internal ComparedSession(ComparisonEngine engine, bool withSecondary)
    {
        _engine = engine;
        var count = withSecondary ? 3 : 2;
        _sides = new SideStream[count];
        _queues = new Queue<Exchange>[count];
        for (var i = 0; i < count; i++)
        {
            var side = i;
            _queues[i] = new Queue<Exchange>();
            _sides[i] = new SideStream(engine.Options.Parser, engine.Counters, exchange => OnExchange(side, exchange));
        }
    }

    public bool HasSecondary => _sides.Length == 3;

    /// <summary>Bytes the session's parsers hold (each direction is bounded by <see cref="HttpParserLimits.MaxStreamBufferBytes"/>).</summary>
    public int BufferedBytes => _sides.Sum(s => s.BufferedBytes);

    /// <summary>Feeds the next bytes of one direction of one side. Malformed input is counted and refused, never thrown.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The secondary side of a session opened without one.</exception>
    public void Feed(ComparisonSide side, StreamDirection direction, ReadOnlySpan<byte> bytes)
    {
        if ((int)side >= _sides.Length || side < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(side), side, "This session has no such side.");
        }

        if (_done)
        {
            return;
        }

        if (direction == StreamDirection.ClientToServer)
        {
            _sides[(int)side].FeedClient(bytes);
        }
        else
        {
            _sides[(int)side].FeedServer(bytes);
        }
    }

    /// <summary>The session ended: last exchanges complete, remaining pairs are compared, the unpaired counted.</summary>
    public void Complete()
    {
        if (_done)
        {
            return;
        }

        foreach (var side in _sides)
        {
            side.Finish();
        }

        Pair(final: true);
        var unpaired = _queues.Max(q => q.Count);
        if (unpaired > 0)
        {
            _engine.Counters.Count(ComparisonDrop.Unpaired, unpaired);
        }

        ReleaseAll();
        _engine.SessionCompleted();
    }

    /// <summary>Abandons an incomplete session: its pending exchanges are released and counted.</summary>
    public void Dispose()
    {
        if (_done)
        {
            return;
        }

        // Nothing more is compared: exchanges the parsers still complete are released with the rest.
        _done = true;
        var pending = _queues.Max(q => q.Count);
        _engine.Counters.Count(ComparisonDrop.SessionAbandoned, Math.Max(1, pending));
        foreach (var side in _sides)
        {
            side.Finish();
        }

        ReleaseAll();
    }

    private void OnExchange(int side, Exchange exchange)
    {
        var completesPair = true;
        for (var i = 0; i < _queues.Length; i++)
        {
            completesPair &= i == side || _queues[i].Count > 0;
        }

        _queues[side].Enqueue(_engine.Admit(exchange, completesPair));
        if (!_done)
        {
            Pair(final: false);
        }
    }

    private void Pair(bool final)
    {
        var online = _queues[(int)ComparisonSide.Online];
        var target = _queues[(int)ComparisonSide.Target];
        var secondary = HasSecondary ? _queues[(int)ComparisonSide.Secondary] : null;
        // With a secondary reference a pair waits for it, except at the end: a silent secondary never blocks a comparison.
        while (online.Count > 0 && target.Count > 0 && (secondary is null || secondary.Count > 0 || final))
        {
            var o = online.Dequeue();
            var t = target.Dequeue();
            var s = secondary is not null && secondary.TryDequeue(out var next) ? next : null;
            _engine.Release(o);
            _engine.Release(t);
            if (s is not null)
            {
                _engine.Release(s);
            }

            _engine.ComparePair(o, t, s);
        }
    }

    private void ReleaseAll()
    {
        _done = true;
        foreach (var queue in _queues)
        {
            while (queue.TryDequeue(out var exchange))
            {
                _engine.Release(exchange);
            }
        }
    }
}
