#!/usr/bin/env bash
# synflood.sh - a spoofed-source SYN flood into the online host while real clients are served (issue 10). See --help.
set -euo pipefail
umask 022

PROG=$(basename "$0")
REPO=$(cd "$(dirname "$0")/.." && pwd)
LAB_SH=$REPO/deploy/lab/lab.sh
TOOL_SRC=$REPO/bench/lib/synflood.c

usage() {
  cat <<EOF
NAME
    $PROG - the capture node under a spoofed-source SYN flood: memory against its ceiling, real clients served

SYNOPSIS
    $PROG [--rate R] [--duration S] [--connections C] [--settle S] [--ceiling-mib M] [--no-build] [--run-dir DIR]
    $PROG --help

DESCRIPTION
    Builds one lab (deploy/lab/lab.sh, fake range 10.200.0.0/16 routed to the reply sink) and starts the
    coordinator (target namespace), intercept (assistant) and capture node (online, replaying port 80 to the
    target) as bench/sessions.sh does. Then, for S seconds, at the same time, from the client namespace:
      - real clients: wrk -t1 -cC with keep-alive against the online nginx (and a short-connection wrk -c2);
      - the flood: bench/lib/synflood.c (compiled with gcc into the run folder) sends R SYNs a second to the
        online nginx's port 80, each from a random address of 172.20.0.0/16 (routed nowhere) and port.
    Every second the capture node's VmRSS is read from /proc. The flood's SYNs are captured like any client's:
    each starts a replayed session (a handshake with the target that no data ever follows), which the node
    ends after session.no-data-timeout (15 s) and which max-live-sessions caps.
    Nothing leaves the lab's namespaces; everything is torn down on exit, also on failure or Ctrl-C.

    It is a bench, not a test: it takes about S + 60 seconds and two cores.

OPTIONS
    --rate R          SYNs a second (default 10000, at most 50000)
    --duration S      seconds of flood and load (default 60, at most 300)
    --connections C   keep-alive wrk connections of the real clients (default 4)
    --settle S        seconds after the flood before the final reading (default 30: the flood's sessions end
                      15 s after their SYN, no-data-timeout, and linger 6 s)
    --ceiling-mib M   the memory ceiling judged against (default 3072: MemoryMax of
                      deploy/systemd/replaycluster-capture.service)
    --no-build        run the ReplayCluster Release build as it is
    --run-dir DIR     node logs, wrk output, rss.tsv, results.txt (default /tmp/synflood-ID; kept)

OUTPUT
    results.txt: SYNs sent; wrk requests and every error (socket errors, non-2xx); peak and final capture RSS
    against the ceiling; the capture node's last statistics line (sessions started, live, refused, ended by
    reason); the online host's SYN cookie and listen-queue counters.

EXAMPLES
    sudo bench/synflood.sh
    sudo bench/synflood.sh --rate 2000 --duration 20 --no-build     # a quick pass
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG --help'." >&2; exit 2; }
now_ms() { date +%s%3N; }
log() { echo "[$(date +%H:%M:%S)] $*"; }

RATE=10000
DURATION=60
CONNECTIONS=4
CEILING_MIB=3072
SETTLE=30
BUILD=1
RUN_DIR=""
while (($# > 0)); do
  case $1 in
    --rate) RATE=${2:-}; shift 2 || usage_error "--rate needs a value" ;;
    --duration) DURATION=${2:-}; shift 2 || usage_error "--duration needs a value" ;;
    --connections) CONNECTIONS=${2:-}; shift 2 || usage_error "--connections needs a value" ;;
    --settle) SETTLE=${2:-}; shift 2 || usage_error "--settle needs a value" ;;
    --ceiling-mib) CEILING_MIB=${2:-}; shift 2 || usage_error "--ceiling-mib needs a value" ;;
    --no-build) BUILD=0; shift ;;
    --run-dir) RUN_DIR=${2:-}; shift 2 || usage_error "--run-dir needs a value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done
num() { if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then usage_error "$1 must be $3-$4, not '$2'"; fi; }
num --rate "$RATE" 1 50000
num --duration "$DURATION" 1 300
num --connections "$CONNECTIONS" 1 256
num --ceiling-mib "$CEILING_MIB" 64 1048576
num --settle "$SETTLE" 0 600
((EUID == 0)) || die "must run as root (network namespaces, raw sockets, libpcap). Try: sudo $0"
command -v gcc >/dev/null || die "gcc is missing (apt-get install gcc)"
command -v wrk >/dev/null || die "wrk is missing (deploy/install-prereqs.sh)"

LAB_ID=sf$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)
RUN_DIR=${RUN_DIR:-/tmp/synflood-$LAB_ID}
mkdir -p "$RUN_DIR"
RESULTS=$RUN_DIR/results.txt

STARTED=()   # PIDs of every process we started, stopped in reverse order
GUARD_PID=""
LAB_UP=0
export LAB_STATE_DIR
LAB_STATE_DIR=$(mktemp -d /tmp/synflood-labs.XXXXXX)
chmod 755 "$LAB_STATE_DIR"

stop_pid() { # PID TIMEOUT_S: SIGTERM, then SIGKILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached from the EXIT trap
cleanup() {
  local rc=$? i
  trap '' INT TERM
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[$i]}" 15; done
  if ((LAB_UP)); then
    [[ -z $GUARD_PID ]] || kill -TERM -- "-$GUARD_PID" 2>/dev/null || true
    "$LAB_SH" down --id "$LAB_ID" >/dev/null 2>&1 || echo "$PROG: lab.sh down --id $LAB_ID failed" >&2
  fi
  rm -rf "$LAB_STATE_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "$PROG: interrupted" >&2; exit 130' INT
trap 'echo "$PROG: terminated" >&2; exit 143' TERM

declare -A DLL=()
for role in coordinator intercept capture; do
  DLL[$role]=$REPO/src/${role^}/bin/Release/net10.0/replaycluster-$role.dll
done
if ((BUILD)); then
  log "building the nodes (Release)"
  for role in coordinator intercept capture; do
    dotnet build "$REPO/src/${role^}/ReplayCluster.${role^}.csproj" -c Release -nologo -v quiet \
      >"$RUN_DIR/build-$role.log" 2>&1 || { tail -n 30 "$RUN_DIR/build-$role.log" >&2; die "build of $role failed"; }
  done
fi
for role in coordinator intercept capture; do
  [[ -f ${DLL[$role]} ]] || die "${DLL[$role]} is missing: build first (or drop --no-build)"
done
TOOL=$RUN_DIR/synflood
gcc -O2 -Wall -Wextra -o "$TOOL" "$TOOL_SRC" || die "gcc could not build $TOOL_SRC"

log "lab $LAB_ID; logs and results in $RUN_DIR"
LAB_UP=1
"$LAB_SH" up --id "$LAB_ID" --fake-range 10.200.0.0/16 >"$RUN_DIR/lab.env" 2>"$RUN_DIR/lab-up.err" ||
  { cat "$RUN_DIR/lab-up.err" >&2; die "lab.sh up failed"; }
setsid "$LAB_SH" guard --id "$LAB_ID" --pid $$ </dev/null >/dev/null 2>&1 &
GUARD_PID=$!
declare -A LAB=()
while IFS='=' read -r key value; do [[ -n $key ]] && LAB[$key]=$value; done <"$RUN_DIR/lab.env"

start_bg() { # NAME NAMESPACE COMMAND...: in the background, output to RUN_DIR/NAME.out
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" "$@" </dev/null >"$RUN_DIR/$name.out" 2>&1 &
  STARTED+=($!)
  BG_PID=$!
}

wait_for() { # TIMEOUT_S FILE PATTERN PID
  local deadline=$(($(now_ms) + $1 * 1000))
  while ! grep -q "$3" "$2" 2>/dev/null; do
    kill -0 "$4" 2>/dev/null || { tail -n 20 "$2" >&2; die "the process writing $2 exited before '$3'"; }
    (($(now_ms) < deadline)) || { tail -n 20 "$2" >&2; die "no '$3' in $2 within $1 s"; }
    sleep 0.2
  done
}

SEED=${LAB[TARGET_IP]}:4053
start_bg coordinator "${LAB[NS_TARGET]}" dotnet "${DLL[coordinator]}" --hostname "${LAB[TARGET_IP]}" --port 4053 -c 10.200.0.0/16
COORD_PID=$BG_PID
wait_for 60 "$RUN_DIR/coordinator.out" "Joined cluster as" "$COORD_PID"
start_bg intercept "${LAB[NS_ASSISTANT]}" dotnet "${DLL[intercept]}" --hostname "${LAB[ASSISTANT_IP]}" \
  --seed "$SEED" -i "${LAB[ASSISTANT_IF]}"
INTERCEPT_PID=$BG_PID
start_bg capture "${LAB[NS_ONLINE]}" dotnet "${DLL[capture]}" --hostname "${LAB[ONLINE_UPLINK_IP]}" \
  --seed "$SEED" -i "${LAB[ONLINE_IF]}" -x "80-${LAB[TARGET_IP]}:${LAB[TARGET_NGINX_PORT]}" \
  --set replaycluster.capture.statistics-interval=2s
CAPTURE_PID=$BG_PID
wait_for 60 "$RUN_DIR/intercept.out" "Joined cluster as" "$INTERCEPT_PID"
wait_for 60 "$RUN_DIR/capture.out" "Capturing on" "$CAPTURE_PID"
# The dotnet process itself (ip netns exec execs it, so the PID is the node's).
log "nodes up: capture $CAPTURE_PID, intercept $INTERCEPT_PID, coordinator $COORD_PID"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$CAPTURE_PID/status" 2>/dev/null || echo 0; }
nstat_online() { ip netns exec "${LAB[NS_ONLINE]}" nstat -az 2>/dev/null | awk '$1 ~ /TcpExtSyncookiesSent|TcpExtListenOverflows|TcpExtListenDrops|TcpExtTCPReqQFullDrop/ { printf "%s=%s ", $1, $2 }'; }

START_RSS=$(rss_kib)
NSTAT_BEFORE=$(nstat_online)
log "capture RSS before: $((START_RSS / 1024)) MiB; flooding ${RATE} SYN/s for ${DURATION} s with real clients (wrk -c$CONNECTIONS keep-alive, -c2 short)"

printf 'second\trss_kib\n' >"$RUN_DIR/rss.tsv"
(
  for ((s = 0; s < DURATION + SETTLE + 10; s++)); do
    printf '%d\t%s\n' "$s" "$(rss_kib)" >>"$RUN_DIR/rss.tsv"
    sleep 1
  done
) &
STARTED+=($!)
SAMPLER_PID=$!

ONLINE_URL="http://${LAB[ONLINE_IP]}:80/"
start_bg wrk-keepalive "${LAB[NS_CLIENT]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 2s "$ONLINE_URL"
WRK_KA=$BG_PID
start_bg wrk-short "${LAB[NS_CLIENT]}" wrk -t1 -c2 -d"${DURATION}s" --timeout 2s -H 'Connection: close' "$ONLINE_URL"
WRK_SHORT=$BG_PID
start_bg flood "${LAB[NS_CLIENT]}" "$TOOL" "${LAB[ONLINE_IP]}" 80 172.20.0.0/16 "$RATE" "$DURATION"
FLOOD_PID=$BG_PID
wait "$FLOOD_PID" || die "the flood tool failed: $(cat "$RUN_DIR/flood.out")"
wait "$WRK_KA" || die "wrk (keep-alive) failed: $(cat "$RUN_DIR/wrk-keepalive.out")"
wait "$WRK_SHORT" || die "wrk (short) failed: $(cat "$RUN_DIR/wrk-short.out")"
END_RSS=$(rss_kib)
log "flood over; $SETTLE s for the flood's sessions to end (no-data-timeout 15 s, linger 6 s)"
sleep "$SETTLE"
AFTER_RSS=$(rss_kib)
stop_pid "$SAMPLER_PID" 2
HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$CAPTURE_PID/status")
PEAK=$(awk 'NR > 1 && $2 > max { max = $2 } END { print max + 0 }' "$RUN_DIR/rss.tsv")
kill -0 "$CAPTURE_PID" 2>/dev/null || die "the capture node died during the flood (see $RUN_DIR/capture.out)"

wrk_errors() { grep -E 'Socket errors|Non-2xx' "$1" || echo "none"; }
wrk_requests() { awk '/requests in/ { print $1 }' "$1"; }
{
  echo "synflood.sh $(date -u +%FT%TZ) commit $(git -C "$REPO" rev-parse --short HEAD) rate=$RATE duration=$DURATION connections=$CONNECTIONS"
  echo "flood: $(cat "$RUN_DIR/flood.out")"
  echo "real clients, keep-alive: $(wrk_requests "$RUN_DIR/wrk-keepalive.out") requests; errors: $(wrk_errors "$RUN_DIR/wrk-keepalive.out")"
  echo "real clients, short: $(wrk_requests "$RUN_DIR/wrk-short.out") requests; errors: $(wrk_errors "$RUN_DIR/wrk-short.out")"
  echo "capture RSS MiB: before $((START_RSS / 1024)), peak sampled $((PEAK / 1024)), VmHWM $((HWM / 1024)), at the flood's end $((END_RSS / 1024)), $SETTLE s later $((AFTER_RSS / 1024)); ceiling $CEILING_MIB"
  echo "under the ceiling: $( ((HWM / 1024 < CEILING_MIB)) && echo yes || echo NO)"
  echo "online host TCP counters before: $NSTAT_BEFORE"
  echo "online host TCP counters after:  $(nstat_online)"
  echo "capture node's last statistics line:"
  grep 'Capture statistics' "$RUN_DIR/capture.out" | tail -n 1 | sed 's/.*Capture statistics: /  /'
} | tee "$RESULTS"
