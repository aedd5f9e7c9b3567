using System.Text;
using CsCheck;
using ReplayCluster.Capture.Sessions;

namespace ReplayCluster.Capture.Tests.Sessions;

public sealed class ReplaySessionPropertyTests
{
    [Fact]
    public void Any_loss_up_to_ten_percent_each_way_delivers_every_request_in_order()
    {
        Gen.Select(Gen.Int[1, 1_000_000], Gen.Double[0, 0.10], Gen.Double[0, 0.10], Gen.Int[1, 12], Gen.Int[0, 8000], Gen.Int[1, 20_000], Gen.Bool)
            .Sample((seed, lossTo, lossFrom, requests, bodySize, responseSize, keepTimestamps) =>
            {
                var harness = new ReplayHarness(seed: seed) { LossToTarget = lossTo, LossFromTarget = lossFrom };
                harness.Target.ResponseSize = responseSize;
                harness.Target.Timestamps = keepTimestamps;
                var client = new RecordedClient().Syn().HandshakeAck();
                var expected = new StringBuilder();
                for (var i = 0; i < requests; i++)
                {
                    var request = RecordedClient.HttpRequest(i, "POST", new string('b', bodySize));
                    expected.Append(request);
                    client.Request(request).ServerSent(responseSize);
                }

                client.Fin().CaptureInto(harness, TimeSpan.FromMilliseconds(1));
                harness.Run(TimeSpan.FromMinutes(30));

                return harness.Target.ReceivedText == expected.ToString()
                    && harness.Session.EndReason == SessionEndReason.Completed
                    && harness.Session.Counters.RequestsDelivered == requests;
            }, iter: 150);
    }
}
