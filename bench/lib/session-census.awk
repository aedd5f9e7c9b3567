# session-census.awk - groups a `dotnet-gcdump report` of a capture node by what each live session holds
# (bench/sessions.sh --gcdump). Usage: awk -v n=SESSIONS -f session-census.awk REPORT.txt
# The report's columns are the size of one object, the count of objects, the type; types with at least
# n/2 objects that no group claims are listed on their own ("other"), so nothing per session is hidden.
NR > 4 && NF >= 3 {
  b = $1; c = $2; gsub(/,/, "", b); gsub(/,/, "", c); $1 = ""; $2 = ""; t = $0; g = ""
  if (t ~ /Slot<Akka.Actor.Envelope>\[\] \[/ || t ~ /ConcurrentQueue(Segment)?<Akka.Actor.Envelope>/ ||
      t ~ /UnboundedMessageQueue |Akka.Dispatch.Mailbox /)
    g = "Akka mailbox (Mailbox, UnboundedMessageQueue, ConcurrentQueue and its first 32-slot segment)"
  else if (t ~ /Akka.Actor.ActorCell |Akka.Actor.LocalActorRef |Akka.Actor.ChildActorPath |Akka.Actor.Receive |Akka.Actor.DefaultActorState |ChildRestartStats |SortedInt32KeyNode|Entry<Akka.Actor.IActorRef,Akka.Util.Option<System.Object>>/)
    g = "Akka actor (ActorCell, LocalActorRef, ChildActorPath, Receive, state, child stats, children map, death watch)"
  else if (t ~ /Akka.Actor.Props |Akka.Actor.Deploy |System.Func<ReplayCluster.Capture.Sessions.SessionActor> |DisplayClass[0-9_]+ |[ .]Producer /)
    g = "Props per session (Props, Deploy, Func, closure, Producer)"
  else if (t ~ /[ .]SchedulerRegistration |[ .]ScheduledTell |Akka.Actor.Cancelable |CancellationTokenSource |ScheduledTellMsg /)
    g = "scheduled tick (HashedWheelTimer registration, ScheduledTell, Cancelable + CancellationTokenSource)"
  else if (t ~ /ReplayCluster.Capture.Sessions.(SessionActor|ReplaySession|SessionCounters|RequestPacer|RetransmissionTimer|SendSpace|CloseState|ReplyLatencyClock|CapturedStream|ReceiveSpace) / ||
           t ~ /List<ReplayCluster.Capture.Sessions.CapturedChunk>|CapturedChunk\[\]|System.UInt32\[\] /)
    g = "session state (SessionActor, ReplaySession and its parts, 2 SessionCounters, CapturedStream)"
  else if (t ~ /^ *Entry<(Akka.Actor.IActorRef,System.ValueTuple|ReplayCluster.Capture.Sessions.OnlineConnection|ReplayCluster.Protocol.SessionEndpoints,|ReplayCluster.Capture.Identities)/ ||
           t ~ /Akka.Actor.IActorRef\[\] \[/)
    g = "shard and identity indexes (3 dictionaries per shard, copies array, identities in use)"
  if (g == "" && c + 0 >= n / 2) g = "other:" t
  if (g != "") bytes[g] += b * c
  total += b * c
}
END {
  for (g in bytes) { printf "%6.0f  %s\n", bytes[g] / n, g; grouped += bytes[g] }
  printf "%6.0f  = grouped, bytes per session\n", grouped / n
  printf "%6.0f  whole GC heap / sessions (includes the node's fixed heap)\n", total / n
}
