#!/usr/bin/env bash
# sessions.sh - memory of live idle replayed sessions on a capture node (issue 9, item 5). See --help.
set -euo pipefail
umask 022

PROG=$(basename "$0")
REPO=$(cd "$(dirname "$0")/.." && pwd)
LAB_SH=$REPO/deploy/lab/lab.sh
TOOL_SRC=$REPO/bench/lib/holdconns.c

usage() {
  cat <<EOF
NAME
    $PROG - RSS of a capture node per live idle keep-alive session, at up to 100,000 sessions

SYNOPSIS
    $PROG [--points LIST] [--baseline N0] [--rate R] [--per-client C] [--settle S] [--wait-max S]
                [--max-time S] [--workers W] [--gcdump] [--no-build] [--run-dir DIR]
    $PROG --help

DESCRIPTION
    Builds one lab (deploy/lab/lab.sh, fake range 10.200.0.0/16 routed to the reply sink), starts
    ReplayCluster's coordinator (target namespace), intercept node (assistant) and capture node (online)
    as bench/sidebyside.sh does, and then opens live keep-alive connections from the client namespace to
    the online nginx with bench/lib/holdconns.c (compiled with gcc into the run folder): each sends one
    request (GET /?id=...), reads the answer and then stays open, idle. The count grows in steps,
    N0 first, then every N of --points; each step adds client processes of at most C connections, each
    from its own source address added to the client's veth inside the client namespace (one process may
    hold at most ~19,000 descriptors here). At every step the script waits until
      - the clients have every connection answered,
      - the target has N0..N established connections on its port (every one a replayed session),
      - the capture node's statistics line shows sessions live >= N,
    or, when the capture node missed connections (their SYNs dropped by the kernel from its capture
    buffer on a busy machine: "kernel ... dropped" in its statistics line), until neither its live
    count nor the target's established count has moved for 10 s; then SETTLE seconds, and reads the capture
    node's VmRSS, RssAnon and VmHWM (/proc/PID/status; the node's own process_memory_bytes at the
    coordinator's /api/status is the same working set).
    Bytes per session = (RSS at N - RSS at N0) / (live at N - live at N0), live being the capture
    node's own count of live sessions.

    Both nginx (online and target) are reloaded (SIGHUP) with the lab's own config edited in place:
    W worker processes, worker_rlimit_nofile 20000, worker_connections 19000, keepalive_timeout 900s,
    so the connections outlive the run (lab.sh starts 1 worker with 4,096 connections and 65 s).
    Everything is torn down on exit (clients, nodes, lab), also on failure or Ctrl-C.

OPTIONS
    --points LIST    session counts to measure, ascending (default 10000,50000,100000)
    --baseline N0    the reference count (default 1000)
    --rate R         new connections per second over all clients of a step (default 2000)
    --per-client C   connections per client process and source address (default 10000, max 18000)
    --settle S       seconds between "all established" and the reading (default 10)
    --wait-max S     seconds a step may take to get established (default 150)
    --max-time S     the whole measurement (after the nodes are up) ends by then (default 480)
    --workers W      nginx worker processes, online and target (default 8)
    --gcdump         after the reading at the last point, a heap census of the capture node with
                     dotnet-gcdump (on PATH, or \$DOTNET_GCDUMP; install: dotnet tool install
                     --tool-path DIR dotnet-gcdump): RUN_DIR/capture-N.gcdump and its report by type
                     (RUN_DIR/capture-N-gcdump.txt). It forces a full GC, so it comes after the reading.
    --no-build       run the ReplayCluster Release build as it is
    --run-dir DIR    node logs, client status files, results.tsv (default /tmp/sessions-ID; kept)

OUTPUT
    One line per step, then a table: N, capture VmRSS, RssAnon, bytes per session (RSS and anon) over
    the baseline, time to open the step's connections, and the capture node's own counters.

EXAMPLES
    sudo bench/sessions.sh
    sudo bench/sessions.sh --points 10000 --baseline 1000      # a quick pass, about 1 minute
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG --help'." >&2; exit 2; }
now_ms() { date +%s%3N; }
log() { echo "[$(date +%H:%M:%S)] $*"; }

POINTS=10000,50000,100000
BASELINE=1000
RATE=2000
PER_CLIENT=10000
SETTLE=10
WAIT_MAX=150
MAX_TIME=480
WORKERS=8
STABLE_S=10
BUILD=1
GCDUMP=0
RUN_DIR=""
while (($# > 0)); do
  case $1 in
    --points) POINTS=${2:-}; shift 2 || usage_error "--points needs a value" ;;
    --baseline) BASELINE=${2:-}; shift 2 || usage_error "--baseline needs a value" ;;
    --rate) RATE=${2:-}; shift 2 || usage_error "--rate needs a value" ;;
    --per-client) PER_CLIENT=${2:-}; shift 2 || usage_error "--per-client needs a value" ;;
    --settle) SETTLE=${2:-}; shift 2 || usage_error "--settle needs a value" ;;
    --wait-max) WAIT_MAX=${2:-}; shift 2 || usage_error "--wait-max needs a value" ;;
    --max-time) MAX_TIME=${2:-}; shift 2 || usage_error "--max-time needs a value" ;;
    --workers) WORKERS=${2:-}; shift 2 || usage_error "--workers needs a value" ;;
    --gcdump) GCDUMP=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --run-dir) RUN_DIR=${2:-}; shift 2 || usage_error "--run-dir needs a value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done
num() { if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then usage_error "$1 must be $3-$4, not '$2'"; fi; }
num --baseline "$BASELINE" 1 1000000
num --rate "$RATE" 1 100000
num --per-client "$PER_CLIENT" 1 18000
num --settle "$SETTLE" 0 600
num --wait-max "$WAIT_MAX" 1 1800
num --max-time "$MAX_TIME" 10 3600
num --workers "$WORKERS" 1 64
IFS=, read -r -a POINT_LIST <<<"$POINTS"
prev=$BASELINE
for p in "${POINT_LIST[@]}"; do
  num "a point" "$p" 1 1000000
  ((p > prev)) || usage_error "--points must be ascending and above the baseline $BASELINE"
  prev=$p
done
((EUID == 0)) || die "must run as root (network namespaces, raw sockets, libpcap). Try: sudo $0"
command -v gcc >/dev/null || die "gcc is missing (apt-get install gcc)"
if ((GCDUMP)); then
  GCDUMP_TOOL=${DOTNET_GCDUMP:-$(command -v dotnet-gcdump || true)}
  [[ -x $GCDUMP_TOOL ]] || die "--gcdump: dotnet-gcdump not found (set DOTNET_GCDUMP or put it on PATH)"
fi

LAB_ID=se$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)
RUN_DIR=${RUN_DIR:-/tmp/sessions-$LAB_ID}
mkdir -p "$RUN_DIR"
RESULTS=$RUN_DIR/results.tsv

# ---------------------------------------------------------------- cleanup: only what we started

STARTED=()   # PIDs of every node and client process we started
GUARD_PID=""
LAB_UP=0
export LAB_STATE_DIR
LAB_STATE_DIR=$(mktemp -d /tmp/sessions-labs.XXXXXX)
chmod 755 "$LAB_STATE_DIR" # nginx workers (unprivileged) read the lab's web root inside it

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
  # Clients first (their closes end the sessions), the capture node before the others, the coordinator last.
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[$i]}" 10; done
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

# ---------------------------------------------------------------- build, tool and lab

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
TOOL=$RUN_DIR/holdconns
gcc -O2 -Wall -Wextra -o "$TOOL" "$TOOL_SRC" || die "gcc could not build $TOOL_SRC"

log "lab $LAB_ID; logs and results in $RUN_DIR"
LAB_UP=1
"$LAB_SH" up --id "$LAB_ID" --fake-range 10.200.0.0/16 >"$RUN_DIR/lab.env" 2>"$RUN_DIR/lab-up.err" ||
  { cat "$RUN_DIR/lab-up.err" >&2; die "lab.sh up failed"; }
# Mutual TLS between the nodes as in production: the lab's CA and a certificate per role.
TLS_DIR=$("$LAB_SH" certs --id "$LAB_ID" --with "dotnet ${DLL[coordinator]}" 2>"$RUN_DIR/lab-certs.err" | sed -n 's/^TLS_DIR=//p')
[[ -n $TLS_DIR ]] || { cat "$RUN_DIR/lab-certs.err" >&2; die "lab.sh certs failed"; }
setsid "$LAB_SH" guard --id "$LAB_ID" --pid $$ </dev/null >/dev/null 2>&1 &
GUARD_PID=$!
declare -A LAB=()
while IFS='=' read -r key value; do [[ -n $key ]] && LAB[$key]=$value; done <"$RUN_DIR/lab.env"

# tune_nginx ROLE: the lab's generated config, edited for 100k idle keep-alive connections, then reloaded.
tune_nginx() {
  local role=$1 conf pid i workers
  conf=${LAB[${role}_NGINX_CONF]}
  pid=${LAB[${role}_NGINX_PID]}
  sed -i -e "s/^worker_processes 1;/worker_processes $WORKERS;\nworker_rlimit_nofile 20000;/" \
    -e 's/worker_connections 4096;/worker_connections 19000;/' \
    -e 's/keepalive_timeout 65s;/keepalive_timeout 900s;/' "$conf"
  if ! grep -q "worker_processes $WORKERS;" "$conf" || ! grep -q 'keepalive_timeout 900s;' "$conf"; then
    die "could not edit $conf (lab.sh's nginx config changed?)"
  fi
  kill -HUP "$pid"
  for ((i = 0; i < 100; i++)); do
    workers=$(pgrep -P "$pid" -c -x nginx || true)
    # The old worker exits gracefully; the new ones carry the new limit.
    ((workers == WORKERS)) && grep -q "^Max open files *20000" "/proc/$(pgrep -P "$pid" -x nginx | head -n 1)/limits" && return 0
    sleep 0.1
  done
  die "nginx $role did not reload with $WORKERS workers (see ${LAB[${role}_ERROR_LOG]})"
}
tune_nginx ONLINE
tune_nginx TARGET

# ---------------------------------------------------------------- nodes

start_node() { # NAME NAMESPACE COMMAND...
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" "$@" </dev/null >"$RUN_DIR/$name.out" 2>&1 &
  STARTED+=($!)
  NODE_PID=$!
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
# Its HTTP API token goes to the run's folder, not /var/lib/replaycluster of this machine.
start_node coordinator "${LAB[NS_TARGET]}" dotnet "${DLL[coordinator]}" --config "$TLS_DIR/coordinator.hocon" --hostname "${LAB[TARGET_IP]}" --port 4053 \
  -c 10.200.0.0/16 --token-file "$RUN_DIR/api-token"
COORD_PID=$NODE_PID
wait_for 60 "$RUN_DIR/coordinator.out" "Joined cluster as" "$COORD_PID"
start_node intercept "${LAB[NS_ASSISTANT]}" dotnet "${DLL[intercept]}" --config "$TLS_DIR/intercept.hocon" --hostname "${LAB[ASSISTANT_IP]}" \
  --seed "$SEED" -i "${LAB[ASSISTANT_IF]}"
INTERCEPT_PID=$NODE_PID
start_node capture "${LAB[NS_ONLINE]}" dotnet "${DLL[capture]}" --config "$TLS_DIR/capture.hocon" --hostname "${LAB[ONLINE_UPLINK_IP]}" \
  --seed "$SEED" -i "${LAB[ONLINE_IF]}" -x "80-${LAB[TARGET_IP]}:${LAB[TARGET_NGINX_PORT]}" \
  --set replaycluster.capture.statistics-interval=2s
CAPTURE_PID=$NODE_PID
wait_for 60 "$RUN_DIR/intercept.out" "Joined cluster as" "$INTERCEPT_PID"
wait_for 60 "$RUN_DIR/capture.out" "Capturing on" "$CAPTURE_PID"
log "nodes up: capture $CAPTURE_PID, intercept $INTERCEPT_PID, coordinator $COORD_PID"

# ---------------------------------------------------------------- measurement

T_START=$(now_ms)
deadline_left() { echo $((MAX_TIME - ($(now_ms) - T_START) / 1000)); }

kb_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo -1; }
# capture_stat NAME: the value of NAME=... in the capture node's latest statistics line (its instrument names:
# "sessions_live", "sessions_started", "kernel_dropped", ...); empty when the latest line does not have it yet (none
# written, or one the node is still writing). Without the "|| true" around the second grep such a look failed the
# pipeline and set -e ended the whole run on the spot, without a word (the likely end of two runs that stopped
# silently at their first step: bench/README.md, "Live sessions", "Again at 9c07798").
capture_stat() {
  { grep -a " sessions_started=" "$RUN_DIR/capture.out" || true; } | tail -n 1 | { grep -o "[ (]$1=[0-9]*" || true; } \
    | head -n 1 | cut -d= -f2
}
capture_kernel_dropped() { capture_stat kernel_dropped; }
target_established() {
  ip netns exec "${LAB[NS_TARGET]}" ss -Htn state established "( sport = :${LAB[TARGET_NGINX_PORT]} )" | wc -l
}
# clients_sum FIELD: FIELD summed over every client's status file.
clients_sum() {
  { cat "$RUN_DIR"/client-*.status 2>/dev/null || true; } | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { s += $2 } END { print s + 0 }'
}

CLIENTS=0
OPEN=0
CLIENT_IF=${LAB[CLIENT_IF]}
# grow_to N: client processes (PER_CLIENT each, one source address each) until N connections are asked for.
grow_to() {
  local want=$1 add n k=0 i rate
  add=$((want - OPEN))
  k=$(((add + PER_CLIENT - 1) / PER_CLIENT))
  rate=$(((RATE + k - 1) / k))
  for ((i = 0; i < k; i++)); do
    n=$((add - i * PER_CLIENT))
    ((n <= PER_CLIENT)) || n=$PER_CLIENT
    CLIENTS=$((CLIENTS + 1))
    ((CLIENTS <= 200)) || die "too many client addresses"
    local src=10.251.11.$((CLIENTS + 9))
    ip netns exec "${LAB[NS_CLIENT]}" ip addr add "$src/24" dev "$CLIENT_IF"
    ip netns exec "${LAB[NS_CLIENT]}" "$TOOL" -s "$src" -d "${LAB[ONLINE_IP]}" -p 80 -n "$n" -r "$rate" \
      -t "$((MAX_TIME + 60))" -T "c$CLIENTS" -o "$RUN_DIR/client-$CLIENTS.status" </dev/null >"$RUN_DIR/client-$CLIENTS.out" 2>&1 &
    STARTED+=($!)
  done
  OPEN=$want
}

printf 'sessions\tcapture_rss_kb\tcapture_anon_kb\tcapture_hwm_kb\tbytes_per_session_rss\tbytes_per_session_anon\topen_s\testablished_s\tclients_answered\tclients_failed\ttarget_established\tcapture_live\tcapture_started\tcapture_refused_ceiling\tcapture_failed\tintercept_rss_kb\tcoordinator_rss_kb\tcapture_file_kb\tcapture_shmem_kb\tcapture_kernel_dropped\n' >"$RESULTS"
BASE_RSS=""
BASE_ANON=""
STOPPED_AT=""
for n in "$BASELINE" "${POINT_LIST[@]}"; do
  if (($(deadline_left) < 20)); then
    STOPPED_AT="--max-time $MAX_TIME s reached before $n"
    break
  fi
  t0=$(now_ms)
  grow_to "$n"
  log "opening connections up to $n ($CLIENTS client processes)"
  open_ms="" est_ms="" ok=0 last_seen="" seen_since=$(now_ms)
  step_deadline=$(($(now_ms) + WAIT_MAX * 1000))
  while :; do
    answered=$(clients_sum answered)
    failed=$(clients_sum failed)
    [[ -n $open_ms ]] || ((answered + failed < n)) || open_ms=$(($(now_ms) - t0))
    live=$(capture_stat sessions_live)
    live=${live:-0}
    if [[ -n $open_ms ]]; then
      est=$(target_established)
      [[ "$live $est" == "$last_seen" ]] || { last_seen="$live $est"; seen_since=$(now_ms); }
      # Every client connection replayed and established at the target: the normal end. When the capture
      # node missed some connections (the kernel dropped their SYNs from the capture buffer on this busy
      # machine: "kernel ... dropped" in its statistics line), its live count stops short; once neither it
      # nor the target's count has moved for STABLE_S, the step is measured at that count (both reported).
      if ((est >= answered && live >= answered)) || ((live > 0 && $(now_ms) - seen_since >= STABLE_S * 1000)); then
        est_ms=$(($(now_ms) - t0))
        ok=1
        break
      fi
    fi
    kill -0 "$CAPTURE_PID" 2>/dev/null || die "the capture node exited (see $RUN_DIR/capture.out)"
    if (($(now_ms) > step_deadline || $(deadline_left) <= 0)); then
      est=$(target_established)
      break
    fi
    sleep 1
  done
  if ((!ok)); then
    STOPPED_AT="at $n: after ${WAIT_MAX} s clients answered $answered (failed $failed), target established $est, capture live $live"
    log "$STOPPED_AT"
    break
  fi
  sleep "$SETTLE"
  rss=$(kb_of "$CAPTURE_PID" VmRSS)
  anon=$(kb_of "$CAPTURE_PID" RssAnon)
  hwm=$(kb_of "$CAPTURE_PID" VmHWM)
  answered=$(clients_sum answered)
  failed=$(clients_sum failed)
  est=$(target_established)
  live=$(capture_stat sessions_live)
  [[ -n $live ]] || { sleep 0.5; live=$(capture_stat sessions_live); } # a line being written: the next look has it
  dropped=$(capture_kernel_dropped)
  LAST_N=$live
  # Per session of the capture node's own live count: what it holds is what costs memory.
  if [[ -z $BASE_RSS ]]; then
    BASE_RSS=$rss BASE_ANON=$anon BASE_N=$live
    per_rss=- per_anon=-
  else
    per_rss=$(awk -v a="$rss" -v b="$BASE_RSS" -v n="$live" -v m="$BASE_N" 'BEGIN { printf "%.0f", (a - b) * 1024 / (n - m) }')
    per_anon=$(awk -v a="$anon" -v b="$BASE_ANON" -v n="$live" -v m="$BASE_N" 'BEGIN { printf "%.0f", (a - b) * 1024 / (n - m) }')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$rss" "$anon" "$hwm" "$per_rss" "$per_anon" \
    "$(awk -v m="$open_ms" 'BEGIN { print m / 1000 }')" "$(awk -v m="$est_ms" 'BEGIN { print m / 1000 }')" \
    "$answered" "$failed" "$est" "$live" "$(capture_stat sessions_started)" "$(capture_stat sessions_refused_ceiling)" "$(capture_stat sessions_failed)" \
    "$(kb_of "$INTERCEPT_PID" VmRSS)" "$(kb_of "$COORD_PID" VmRSS)" \
    "$(kb_of "$CAPTURE_PID" RssFile)" "$(kb_of "$CAPTURE_PID" RssShmem)" "$dropped" >>"$RESULTS"
  log "N=$n: answered $answered (failed $failed), target established $est, capture live $live (kernel dropped $dropped);" \
    "capture RSS $((rss / 1024)) MB (anon $((anon / 1024)) MB), $per_rss B/session (anon $per_anon);" \
    "open $(awk -v m="$open_ms" 'BEGIN { print m / 1000 }') s, established $(awk -v m="$est_ms" 'BEGIN { print m / 1000 }') s"
done

if ((GCDUMP)) && [[ -n ${LAST_N:-} ]]; then
  log "heap census of the capture node at $LAST_N sessions (dotnet-gcdump; forces a full GC)"
  if timeout 300 "$GCDUMP_TOOL" collect -p "$CAPTURE_PID" -o "$RUN_DIR/capture-$LAST_N.gcdump" >"$RUN_DIR/gcdump-collect.log" 2>&1 &&
    "$GCDUMP_TOOL" report "$RUN_DIR/capture-$LAST_N.gcdump" >"$RUN_DIR/capture-$LAST_N-gcdump.txt" 2>&1; then
    echo "capture RSS after the census's full GC: $(($(kb_of "$CAPTURE_PID" VmRSS) / 1024)) MB;" \
      "$(head -n 2 "$RUN_DIR/capture-$LAST_N-gcdump.txt" | tr -s ' ' | tr '\n' ';')"
    echo "bytes per live session by what holds them (bench/lib/session-census.awk):"
    awk -v n="$LAST_N" -f "$REPO/bench/lib/session-census.awk" "$RUN_DIR/capture-$LAST_N-gcdump.txt" | sort -k1,1nr |
      tee "$RUN_DIR/capture-$LAST_N-census.txt"
  else
    echo "$PROG: dotnet-gcdump failed (see $RUN_DIR/gcdump-collect.log)" >&2
  fi
fi

echo
echo "Live idle keep-alive sessions on one capture node (lab $LAB_ID, $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'));" \
  "bytes per session over the baseline N0=$BASELINE"
echo
echo "| connections | capture live | capture RSS MB | RssAnon MB | bytes/session (RSS) | bytes/session (anon) | open s | established s | target established | refused (ceiling) | capture kernel drops |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' 'NR > 1 { printf "| %s | %s | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %s |\n", $9, $12, $2 / 1024, $3 / 1024, $5, $6, $7, $8, $11, $14, $20 }' "$RESULTS"
[[ -z $STOPPED_AT ]] || echo "stopped: $STOPPED_AT"
echo "raw values: $RESULTS"
