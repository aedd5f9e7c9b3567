using System.Globalization;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// The runtime's AllocationTick event fires about once per 100 KB allocated on a thread and names the type of the
// object that crossed the line, with the stack (EventPipe records one per event): a sample of the bytes allocated,
// weighted by the amount since the previous tick. Good for shares; the totals are the node's own
// process_allocated_bytes.
if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: AllocProfile TRACE.nettrace [TOP]");
    return 2;
}

var top = args.Length == 2 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
var byType = new Dictionary<string, double>(StringComparer.Ordinal);
var byFrame = new Dictionary<string, double>(StringComparer.Ordinal);
var byStack = new Dictionary<string, double>(StringComparer.Ordinal);
double total = 0;
var etlx = TraceLog.CreateFromEventPipeDataFile(args[0]);
using (var log = new TraceLog(etlx))
{
    foreach (var data in log.Events)
    {
        if (data is not GCAllocationTickTraceData tick)
        {
            continue;
        }

        double bytes = tick.AllocationAmount64;
        total += bytes;
        Add(byType, tick.TypeName, bytes);
        var frames = new List<string>();
        for (var frame = data.CallStack(); frame is not null && frames.Count < 6; frame = frame.Caller)
        {
            var name = frame.CodeAddress.FullMethodName;
            frames.Add(string.IsNullOrEmpty(name) ? frame.CodeAddress.ModuleName + "!?" : name);
        }

        Add(byFrame, frames.FirstOrDefault(f => f.Contains("ReplayCluster", StringComparison.Ordinal)) ?? frames.FirstOrDefault() ?? "?", bytes);
        Add(byStack, tick.TypeName + " <= " + string.Join(" < ", frames.Take(4)), bytes);
    }
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sampled {total / 1e6:F1} MB"));
Print("by type", byType);
Print("by first ReplayCluster frame", byFrame);
Print("by stack", byStack);
return 0;

static void Add(Dictionary<string, double> table, string key, double bytes) =>
    table[key] = table.GetValueOrDefault(key) + bytes;

void Print(string title, Dictionary<string, double> table)
{
    Console.WriteLine("== " + title);
    foreach (var (key, bytes) in table.OrderByDescending(p => p.Value).Take(top))
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{bytes / total * 100,6:F1} %  {key}"));
    }
}
