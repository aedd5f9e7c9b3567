using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using ReplayCluster.Coordinator.Http;

namespace ReplayCluster.Coordinator.Tests.Http;

public sealed class HttpRefusalsTests
{
    [Fact]
    public void Every_refusal_is_counted_but_a_burst_logs_one_line_a_second_per_reason_with_the_number_left_out()
    {
        var time = new FakeTimeProvider();
        var log = new LineLogger();
        var refusals = new HttpRefusals(log, time);

        for (var i = 0; i < 5; i++)
        {
            refusals.Refuse(HttpRefusal.Token, "GET", "/api/status", "10.0.0.9", "wrong bearer token");
        }

        refusals.Refuse(HttpRefusal.Host, "GET", "/", "10.0.0.9", "Host 'evil.example'");
        time.Advance(TimeSpan.FromSeconds(1));
        refusals.Refuse(HttpRefusal.Token, "GET", "/metrics", "10.0.0.9", "no bearer token");

        Assert.Equal((6, 1, 7), (refusals[HttpRefusal.Token], refusals[HttpRefusal.Host], refusals.Total));
        Assert.Equal(
        [
            "Warning 440: HTTP API refused GET /api/status from 10.0.0.9 (token): wrong bearer token; 0 earlier refusals of this kind not logged",
            "Warning 440: HTTP API refused GET / from 10.0.0.9 (host): Host 'evil.example'; 0 earlier refusals of this kind not logged",
            "Warning 440: HTTP API refused GET /metrics from 10.0.0.9 (token): no bearer token; 4 earlier refusals of this kind not logged",
        ], log.Lines);
        Assert.Equal("6", refusals.ToJson()["token"]!.ToJsonString());
    }

    private sealed class LineLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add($"{logLevel} {eventId.Id}: {formatter(state, exception)}");
    }
}
