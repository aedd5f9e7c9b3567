#!/usr/bin/env bash
# tls-cost.sh - CPU per replayed request with and without mutual TLS between the nodes.
#
# Runs deploy/demo.sh (--no-build, keep-alive load) alternately with --tls on and --tls off, RUNS times each,
# and samples the node processes' CPU (utime + stime from /proc/PID/stat, every process of the lab's namespaces
# whose command line names replaycluster-*) when the demo says the load starts ("== load:") and when it stops
# the nodes ("== stopping the nodes"): CPU over load + drain, divided by the target's request count. Prints one
# line per run and the medians. Usage: sudo bench/tls-cost.sh [RUNS] [DURATION_S] [CONNECTIONS]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3} DURATION=${2:-10} CONNECTIONS=${3:-8}
HZ=$(getconf CLK_TCK)
export LAB_STATE_DIR=${LAB_STATE_DIR:-$(mktemp -d)}
chmod 755 "$LAB_STATE_DIR"

node_ticks() { # LAB_ID: summed utime+stime ticks of the lab's replaycluster processes
  local id=$1 ns pid total=0
  for ns in $(ip netns list | awk -v p="rc-$id-" 'index($1, p) == 1 {print $1}'); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'replaycluster-' || continue
      total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
  done
  echo "$total"
}

declare -A RESULT=()
for ((r = 1; r <= RUNS; r++)); do
  for tls in on off; do
    id=tc$tls$r$RANDOM
    id=${id:0:8}
    log=$(mktemp)
    start=0 stop=0
    while IFS= read -r line; do
      echo "$line" >>"$log"
      case $line in
        "== load:"*) start=$(node_ticks "$id") ;;
        "== stopping the nodes"*) stop=$(node_ticks "$id") ;;
      esac
    done < <("$REPO/deploy/demo.sh" --no-build --id "$id" --tls "$tls" --load keepalive --duration "$DURATION" --connections "$CONNECTIONS" 2>&1)
    target=$(awk '/^target requests/ {print $3}' "$log")
    result=$(awk '/^RESULT:/ {print $2}' "$log")
    us=$(awk -v a="$start" -v b="$stop" -v n="$target" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / hz * 1e6 / n; else print "-" }')
    cpu=$(awk -v a="$start" -v b="$stop" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
    echo "run $r tls=$tls: target requests $target, node CPU ${cpu} s over load + drain, ${us} us per replayed request, $result (loadavg $(cut -d' ' -f1 /proc/loadavg))"
    RESULT[$tls]+="$us "
    rm -f "$log"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "median us CPU per replayed request: tls on $(median <<<"${RESULT[on]}"), tls off $(median <<<"${RESULT[off]}")"
