#!/usr/bin/env bash
# sidebyside.sh - ReplayCluster against tcpcopy 1.3 + intercept 1.0 in the same lab run, interleaved. See --help.
set -euo pipefail
umask 022

PROG=$(basename "$0")
REPO=$(cd "$(dirname "$0")/.." && pwd)
LAB_SH=$REPO/deploy/lab/lab.sh
LUA=$REPO/bench/lib/ids.lua
ANCHOR=${ANCHOR:-$(cd "$REPO/.." && pwd)/shared/anchor/bin}

usage() {
  cat <<EOF
NAME
    $PROG - side-by-side benchmark: no replay, tcpcopy + intercept, ReplayCluster

SYNOPSIS
    $PROG [--points LIST] [--reps N] [--duration S] [--idle S] [--quick]
                   [--drain-quiet S] [--drain-max S] [--path PATH] [--no-build] [--run-dir DIR]
    $PROG --help

DESCRIPTION
    Builds one lab of network namespaces (deploy/lab/lab.sh, fake range 10.200.0.0/15 routed to the
    reply sink) and, REPS times, for every point, runs three modes one after the other (interleaved:
    none, tcpcopy, replaycluster, none, ...). Each mode of each point is a phase:

      1. start the replayer: tcpcopy ($ANCHOR/tcpcopy) in the online namespace and
         intercept on the sink (assistant), or ReplayCluster's coordinator (target namespace),
         intercept node (assistant) and capture node (online) as demo.sh starts them; wait until
         ready (tcpcopy connected to intercept; every node joined and the capture node captures);
         record each process's RSS (start RSS);
      2. warm-up: 2 s of the point's load from 2 connections, then wait until the target served
         every warm-up request (or made no progress for 10 s) and SETTLE more seconds; then IDLE seconds without traffic: each replayer
         process's CPU over that window is its idle CPU;
      3. the load: wrk -t1 from the client namespace against the online nginx for DURATION seconds,
         every request with a unique id (bench/lib/ids.lua: GET PATH?id=PHASE-THREAD-N);
      4. the drain: the target's access log is watched until it has not grown for DRAIN_QUIET
         seconds (at most DRAIN_MAX after the load); drain time = last growth - end of the load;
      5. CPU (utime + stime of every replayer process, /proc/PID/stat) from the start of the load
         to the last growth of the target's log; peak RSS (VmHWM); then SIGTERM the replayer
         (ReplayCluster: the capture node's last statistics line gives its capture latency, kernel
         timestamp to session, and relay latency, target reply captured to session, p50 and p99
         since start, warm-up included);
      6. the online and target access logs are compared id by id: a request the online nginx
         served is missing when the target served it fewer times than the copies, duplicated for
         each time beyond; target requests with an id the online nginx never logged count as
         duplicated too.
    The mode "none" runs only the load (no replayer, no idle window): the reference for the online
    throughput.

POINTS
    keepalive   wrk -c50, keep-alive
    short       wrk -c10 -H 'Connection: close', uncapped
    short1k     wrk -c50 -H 'Connection: close', 50 ms before each request: at most 1,000 conn/s
    copies100   wrk -c10 -H 'Connection: close', 100 ms before each request (at most 100 conn/s),
                replayed 100 times (tcpcopy -n 100, capture -n 100): up to 10,000 new connections/s at
                the target; --copies-delay MS lowers the rate

OPTIONS
    --points LIST     comma-separated points (default keepalive,short,short1k,copies100)
    --modes LIST      comma-separated modes (default none,tcpcopy,replaycluster)
    --reps N          repetitions (default 3)
    --duration S      seconds of load per phase (default 12)
    --idle S          idle window (default 20)
    --settle S        pause between the warm-up's drain and the idle window (default 5)
    --drain-quiet S   the drain ends after S seconds without growth (default 5)
    --drain-max S     the drain ends at most S seconds after the load (default 60)
    --path PATH       URL path requested (default /1k)
    --copies-delay MS pause before each request at the point copies100 (default 100)
    --quick           a fast sanity pass: --reps 1 --duration 4 --idle 3 --settle 1 --drain-quiet 3
    --no-build        run the ReplayCluster Release build as it is
    --published DIR   run the nodes deploy/publish.sh wrote to DIR (DIR/capture/replaycluster-capture, ...):
                      what a user deploys (self-contained, ReadyToRun) instead of "dotnet" on the build
    --run-dir DIR     node logs, wrk output, results.tsv (default /tmp/sidebyside-ID; kept)
    --family 4|6      the clients' and the replay's IP family (default 4). With 6 the lab is dual stack
                      (lab.sh up --ipv6), wrk requests the online nginx's IPv6 address, and ReplayCluster
                      replays to the target's IPv6 address from the IPv6 half of the coordinator's range
                      (10.200.0.0/16,fd00:251:f000::/48); tcpcopy has no IPv6, so its mode is left out

OUTPUT
    One line per phase as it ends, then a table of medians per point and mode. Per-process values
    are listed in this order: tcpcopy / intercept; capture / intercept / coordinator.
    RUN_DIR/results.tsv holds every phase's raw values.

ENVIRONMENT
    ANCHOR        folder with the tcpcopy and intercept binaries (default ../shared/anchor/bin)
    TCPCOPY_ARGS  extra tcpcopy options, split on spaces (e.g. "-C 11"); default none
    CAPTURE_ARGS  extra capture node options, split on spaces (e.g. "--set replaycluster.capture.shards=1");
                  default none
    INTERCEPT_ARGS  the same for the intercept node (e.g. "--set replaycluster.intercept.capture-buffer-size=8MiB")

EXAMPLES
    sudo bench/sidebyside.sh --quick
    sudo bench/sidebyside.sh                          # 3 repetitions, every point: about 40 minutes
    sudo bench/sidebyside.sh --points keepalive --reps 5
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Try '$PROG --help'." >&2; exit 2; }
now_ms() { date +%s%3N; }
log() { echo "[$(date +%H:%M:%S)] $*"; }

# ---------------------------------------------------------------- options

POINTS=keepalive,short,short1k,copies100
MODES=none,tcpcopy,replaycluster
REPS=3
DURATION=12
IDLE=20
SETTLE=5
DRAIN_QUIET=5
DRAIN_MAX=60
URL_PATH=/1k
COPIES_DELAY=100
FAMILY=4
BUILD=1
PUBLISHED=""
RUN_DIR=""
while (($# > 0)); do
  case $1 in
    --points) POINTS=${2:-}; shift 2 || usage_error "--points needs a value" ;;
    --modes) MODES=${2:-}; shift 2 || usage_error "--modes needs a value" ;;
    --reps) REPS=${2:-}; shift 2 || usage_error "--reps needs a value" ;;
    --duration) DURATION=${2:-}; shift 2 || usage_error "--duration needs a value" ;;
    --idle) IDLE=${2:-}; shift 2 || usage_error "--idle needs a value" ;;
    --settle) SETTLE=${2:-}; shift 2 || usage_error "--settle needs a value" ;;
    --drain-quiet) DRAIN_QUIET=${2:-}; shift 2 || usage_error "--drain-quiet needs a value" ;;
    --drain-max) DRAIN_MAX=${2:-}; shift 2 || usage_error "--drain-max needs a value" ;;
    --path) URL_PATH=${2:-}; shift 2 || usage_error "--path needs a value" ;;
    --copies-delay) COPIES_DELAY=${2:-}; shift 2 || usage_error "--copies-delay needs a value" ;;
    --quick) REPS=1 DURATION=4 IDLE=3 SETTLE=1 DRAIN_QUIET=3; shift ;;
    --no-build) BUILD=0; shift ;;
    --published) PUBLISHED=${2:-}; BUILD=0; shift 2 || usage_error "--published needs a directory" ;;
    --run-dir) RUN_DIR=${2:-}; shift 2 || usage_error "--run-dir needs a value" ;;
    --family) FAMILY=${2:-}; shift 2 || usage_error "--family needs a value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done
[[ $FAMILY == 4 || $FAMILY == 6 ]] || usage_error "--family must be 4 or 6, not '$FAMILY'"
if [[ $FAMILY == 6 && ,$MODES, == *,tcpcopy,* ]]; then
  # (grep -v that leaves nothing fails; under pipefail that ended the script without a word.)
  MODES=$(tr ',' '\n' <<<"$MODES" | { grep -vx tcpcopy || true; } | paste -sd, -)
  [[ -n $MODES ]] || usage_error "--family 6: tcpcopy replays IPv4 only, and no other mode is left"
  echo "$PROG: --family 6: tcpcopy replays IPv4 only; its mode is left out (modes: $MODES)" >&2
fi
for v in REPS DURATION IDLE SETTLE DRAIN_QUIET DRAIN_MAX; do
  name=${v,,}
  if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1 || ${!v} > 600)); then
    usage_error "--${name//_/-} must be 1-600, not '${!v}'"
  fi
done
if ! [[ $COPIES_DELAY =~ ^[0-9]+$ ]] || ((COPIES_DELAY < 1 || COPIES_DELAY > 60000)); then
  usage_error "--copies-delay must be 1-60000 ms, not '$COPIES_DELAY'"
fi
IFS=, read -r -a POINT_LIST <<<"$POINTS"
IFS=, read -r -a MODE_LIST <<<"$MODES"
for p in "${POINT_LIST[@]}"; do
  [[ $p =~ ^(keepalive|short|short1k|copies100)$ ]] || usage_error "unknown point '$p'"
done
for m in "${MODE_LIST[@]}"; do
  [[ $m =~ ^(none|tcpcopy|replaycluster)$ ]] || usage_error "unknown mode '$m'"
done
[[ $URL_PATH =~ ^/[A-Za-z0-9._/-]*$ ]] || usage_error "--path must be a plain path, not '$URL_PATH'"
((EUID == 0)) || die "must run as root (network namespaces, raw sockets, libpcap). Try: sudo $0"
for bin in tcpcopy intercept; do
  [[ -x $ANCHOR/$bin ]] || die "$ANCHOR/$bin is missing (set ANCHOR to the folder of the anchor binaries)"
done

LAB_ID=sb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)
RUN_DIR=${RUN_DIR:-/tmp/sidebyside-$LAB_ID}
# A used folder would mix runs: the replayers append to their logs, and the readiness waits below read those logs
# ("msg listen socket", "it adds fd"), so an old run's lines would pass them before this run's processes are up.
if [[ -e $RUN_DIR && -n $(ls -A "$RUN_DIR" 2>/dev/null) ]]; then
  die "--run-dir $RUN_DIR is not empty: give a new or empty folder"
fi
mkdir -p "$RUN_DIR"
RESULTS=$RUN_DIR/results.tsv
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- cleanup: only what we started

STARTED=()   # PIDs of every replayer and load process we started
GUARD_PID=""
LAB_UP=0
export LAB_STATE_DIR
LAB_STATE_DIR=$(mktemp -d /tmp/sidebyside-labs.XXXXXX)
chmod 755 "$LAB_STATE_DIR" # nginx workers (unprivileged) read the lab's web root inside it

# forget PID: a reaped child leaves STARTED, so that cleanup never signals a recycled PID.
forget() {
  local pid keep=()
  for pid in "${STARTED[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
  STARTED=("${keep[@]}")
}

# stop_pid PID TIMEOUT_S: SIGTERM, wait up to TIMEOUT_S, then SIGKILL. Sets STOP_RC.
stop_pid() {
  local pid=$1 timeout=$2 i
  STOP_RC=gone
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < timeout * 10; i++)); do
      if ! kill -0 "$pid" 2>/dev/null; then
        STOP_RC=0
        break
      fi
      sleep 0.1
    done
    if [[ $STOP_RC == gone ]]; then
      echo "$PROG: PID $pid did not stop within ${timeout} s of SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      STOP_RC=killed
    fi
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  [[ $STOP_RC != 0 ]] || STOP_RC=$rc
  forget "$pid"
}

# shellcheck disable=SC2317 # reached from the EXIT trap
cleanup() {
  local rc=$? pid
  trap '' INT TERM
  for pid in "${STARTED[@]}"; do
    kill -0 "$pid" 2>/dev/null && stop_pid "$pid" 5
  done
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

# ---------------------------------------------------------------- build and lab

declare -A DLL=() NODE=()
for role in coordinator intercept capture; do
  DLL[$role]=$REPO/src/${role^}/bin/Release/net10.0/replaycluster-$role.dll
  # How a node is started (word-split on use): dotnet on the build, or the published executable.
  NODE[$role]="dotnet ${DLL[$role]}"
  [[ -z $PUBLISHED ]] || NODE[$role]=$PUBLISHED/$role/replaycluster-$role
done
if ((BUILD)); then
  log "building the nodes (Release)"
  for role in coordinator intercept capture; do
    dotnet build "$REPO/src/${role^}/ReplayCluster.${role^}.csproj" -c Release -nologo -v quiet \
      >"$RUN_DIR/build-$role.log" 2>&1 || { tail -n 30 "$RUN_DIR/build-$role.log" >&2; die "build of $role failed"; }
  done
fi
for role in coordinator intercept capture; do
  if [[ -n $PUBLISHED ]]; then
    [[ -x ${NODE[$role]} ]] || die "${NODE[$role]} is missing: deploy/publish.sh --output $PUBLISHED first"
  else
    [[ -f ${DLL[$role]} ]] || die "${DLL[$role]} is missing: build first (or drop --no-build)"
  fi
done

log "lab $LAB_ID; logs and results in $RUN_DIR"
LAB_UP=1
# /15: ReplayCluster's coordinator hands out slices of 10.200.0.0/16, tcpcopy uses 10.201.9.x; both reach the sink.
LAB_FAMILY_ARGS=()
[[ $FAMILY == 4 ]] || LAB_FAMILY_ARGS=(--ipv6)
"$LAB_SH" up --id "$LAB_ID" --fake-range 10.200.0.0/15 "${LAB_FAMILY_ARGS[@]}" >"$RUN_DIR/lab.env" 2>"$RUN_DIR/lab-up.err" ||
  { cat "$RUN_DIR/lab-up.err" >&2; die "lab.sh up failed"; }
# Mutual TLS between the nodes as in production: the lab's CA and a certificate per role.
TLS_DIR=$("$LAB_SH" certs --id "$LAB_ID" --with "${NODE[coordinator]}" 2>"$RUN_DIR/lab-certs.err" | sed -n 's/^TLS_DIR=//p')
[[ -n $TLS_DIR ]] || { cat "$RUN_DIR/lab-certs.err" >&2; die "lab.sh certs failed"; }
# Takes the lab down even if this script is SIGKILLed (setsid: its own group, stopped by group).
setsid "$LAB_SH" guard --id "$LAB_ID" --pid $$ </dev/null >/dev/null 2>&1 &
GUARD_PID=$!
declare -A LAB=()
while IFS='=' read -r key value; do [[ -n $key ]] && LAB[$key]=$value; done <"$RUN_DIR/lab.env"
ONLINE_LOG=${LAB[ONLINE_ACCESS_LOG]}
TARGET_LOG=${LAB[TARGET_ACCESS_LOG]}
URL=http://${LAB[ONLINE_IP]}$URL_PATH
TARGET_MAP=80-${LAB[TARGET_IP]}:${LAB[TARGET_NGINX_PORT]}
COORDINATOR_RANGE=10.200.0.0/16
if [[ $FAMILY == 6 ]]; then
  # The lab routes FAKE_RANGE6 from the target to the reply sink, as it does the IPv4 range.
  URL="http://[${LAB[ONLINE_IP6]}]$URL_PATH"
  TARGET_MAP="80-[${LAB[TARGET_IP6]}]:${LAB[TARGET_NGINX_PORT]}"
  COORDINATOR_RANGE=10.200.0.0/16,${LAB[FAKE_RANGE6]}
fi

# ---------------------------------------------------------------- replayers

# The current phase's replayer processes, in report order, and their names.
PROCS=()
NAMES=()

start_proc() { # NAME NAMESPACE COMMAND...: `ip netns exec` execs, so $! is the process itself
  local name=$1 ns=$2
  shift 2
  ip netns exec "$ns" "$@" </dev/null >"$PHASE_DIR/$name.out" 2>&1 &
  STARTED+=($!)
  PROCS+=($!)
  NAMES+=("$name")
}

# wait_for TIMEOUT_S FILE PATTERN [PID]: until FILE has a line matching PATTERN; fails if PID exits.
wait_for() {
  local deadline=$(($(now_ms) + $1 * 1000))
  while ! grep -q "$3" "$2" 2>/dev/null; do
    if [[ -n ${4:-} ]] && ! kill -0 "$4" 2>/dev/null; then
      tail -n 20 "$2" >&2 || true
      die "the process writing $2 exited before '$3'"
    fi
    (($(now_ms) < deadline)) || { tail -n 20 "$2" >&2 || true; die "no '$3' in $2 within $1 s"; }
    sleep 0.2
  done
}

start_tcpcopy() { # COPIES
  start_proc intercept "${LAB[NS_ASSISTANT]}" "$ANCHOR/intercept" -i "${LAB[ASSISTANT_IF]}" \
    -F 'tcp and src port 80' -l "$PHASE_DIR/intercept.log"
  wait_for 10 "$PHASE_DIR/intercept.log" "msg listen socket" "${PROCS[0]}"
  local copies=() extra=()
  (($1 == 1)) || copies=(-n "$1")
  read -r -a extra <<<"${TCPCOPY_ARGS:-}"
  start_proc tcpcopy "${LAB[NS_ONLINE]}" "$ANCHOR/tcpcopy" -x "$TARGET_MAP" -s "${LAB[ASSISTANT_IP]}" \
    -c 10.201.9.x "${copies[@]}" "${extra[@]}" -l "$PHASE_DIR/tcpcopy.log"
  # intercept logs one "it adds fd" per connection from tcpcopy (-C 2 by default).
  local deadline=$(($(now_ms) + 10000))
  until (($(grep -c "it adds fd" "$PHASE_DIR/intercept.log" || true) >= 2)); do
    kill -0 "${PROCS[1]}" 2>/dev/null || die "tcpcopy exited: $(tail -n 5 "$PHASE_DIR/tcpcopy.log")"
    (($(now_ms) < deadline)) || die "tcpcopy did not connect to intercept within 10 s"
    sleep 0.1
  done
  # Report order: tcpcopy, intercept.
  PROCS=("${PROCS[1]}" "${PROCS[0]}")
  NAMES=(tcpcopy intercept)
}

start_replaycluster() { # COPIES
  local -a CAPTURE_EXTRA INTERCEPT_EXTRA
  read -r -a CAPTURE_EXTRA <<<"${CAPTURE_ARGS:-}"
  read -r -a INTERCEPT_EXTRA <<<"${INTERCEPT_ARGS:-}"
  local seed=${LAB[TARGET_IP]}:4053
  start_proc coordinator "${LAB[NS_TARGET]}" ${NODE[coordinator]} --config "$TLS_DIR/coordinator.hocon" --hostname "${LAB[TARGET_IP]}" --port 4053 \
    -c "$COORDINATOR_RANGE"
  wait_for 40 "$PHASE_DIR/coordinator.out" "Joined cluster as" "${PROCS[0]}"
  start_proc intercept "${LAB[NS_ASSISTANT]}" ${NODE[intercept]} --config "$TLS_DIR/intercept.hocon" --hostname "${LAB[ASSISTANT_IP]}" \
    --seed "$seed" -i "${LAB[ASSISTANT_IF]}" "${INTERCEPT_EXTRA[@]}"
  start_proc capture "${LAB[NS_ONLINE]}" ${NODE[capture]} --config "$TLS_DIR/capture.hocon" --hostname "${LAB[ONLINE_UPLINK_IP]}" \
    --seed "$seed" -i "${LAB[ONLINE_IF]}" -x "$TARGET_MAP" -n "$1" "${CAPTURE_EXTRA[@]}"
  wait_for 40 "$PHASE_DIR/intercept.out" "Joined cluster as" "${PROCS[1]}"
  wait_for 40 "$PHASE_DIR/capture.out" "Joined cluster as" "${PROCS[2]}"
  # A capture node captures once an intercept node knows its sessions.
  wait_for 40 "$PHASE_DIR/capture.out" "Capturing on" "${PROCS[2]}"
  PROCS=("${PROCS[2]}" "${PROCS[1]}" "${PROCS[0]}")
  NAMES=(capture intercept coordinator)
}

STOP_EXITS=""
stop_replayer() { # the first process of each set first (tcpcopy; capture, then intercept), the coordinator last
  local i
  STOP_EXITS=""
  for i in "${!PROCS[@]}"; do
    stop_pid "${PROCS[$i]}" 20
    STOP_EXITS+="${STOP_EXITS:+,}${NAMES[$i]}=$STOP_RC"
  done
  PROCS=()
  NAMES=()
}

ticks_of() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo -1; }
kb_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo -1; }

# per_proc FUNCTION ARG: FUNCTION PID ARG for every replayer process, comma-separated.
per_proc() {
  local pid out=""
  for pid in "${PROCS[@]}"; do out+="${out:+,}$("$1" "$pid" "${2:-}")"; done
  echo "${out:--}"
}
sum_csv() { tr ',' '\n' <<<"$1" | awk '{ s += $1 } END { print s + 0 }'; }
mb_csv() { tr ',' '\n' <<<"$1" | awk '{ printf "%s%.0f", (NR > 1 ? "," : ""), $1 / 1024 }'; }

# ---------------------------------------------------------------- load

# point_load POINT: sets CONNS, HEADER, DELAY_MS, COPIES
point_load() {
  case $1 in
    keepalive) CONNS=50 HEADER="" DELAY_MS=0 COPIES=1 ;;
    short) CONNS=10 HEADER="Connection: close" DELAY_MS=0 COPIES=1 ;;
    short1k) CONNS=50 HEADER="Connection: close" DELAY_MS=50 COPIES=1 ;;
    copies100) CONNS=10 HEADER="Connection: close" DELAY_MS=$COPIES_DELAY COPIES=100 ;;
  esac
}

# run_wrk PREFIX CONNS SECONDS OUT: the load from the client namespace, in the foreground.
run_wrk() {
  local args=(-t1 -c"$2" -d"$3s" --timeout 5s -s "$LUA")
  [[ -z $HEADER ]] || args+=(-H "$HEADER")
  ip netns exec "${LAB[NS_CLIENT]}" env BENCH_PREFIX="$1" BENCH_PATH="$URL_PATH" BENCH_DELAY_MS="$DELAY_MS" \
    timeout -k 5 "$(($3 + 20))" wrk "${args[@]}" "$URL" </dev/null >"$4" 2>&1 &
  local pid=$!
  STARTED+=("$pid")
  local rc=0
  wait "$pid" || rc=$?
  forget "$pid"
  ((rc == 0)) || die "wrk failed (exit $rc): $(cat "$4")"
}

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# wait_quiet FILE QUIET_S MAX_S: until FILE has not grown for QUIET_S (at most MAX_S). Sets LAST_GROWTH_MS
# (time of the last growth seen, or the start) and LAST_TICKS (the replayers' CPU ticks sampled then).
wait_quiet() {
  local file=$1 start size last
  start=$(now_ms)
  last=$(size_of "$file")
  LAST_GROWTH_MS=$start
  LAST_TICKS=$(per_proc ticks_of)
  while (($(now_ms) - LAST_GROWTH_MS < $2 * 1000 && $(now_ms) - start < $3 * 1000)); do
    sleep 0.25
    size=$(size_of "$file")
    if ((size != last)); then
      last=$size
      LAST_GROWTH_MS=$(now_ms)
      LAST_TICKS=$(per_proc ticks_of)
    fi
  done
}

# wait_warm PREFIX: until the target served every warm-up request COPIES times, or 10 s passed without
# progress (a replayer that loses some), at most 60 s. A busy machine can delay the first replayed request
# by seconds, so "no growth yet" is no sign of the end. Sets warm_online and warm_target.
wait_warm() {
  local start last_change last=-1
  start=$(now_ms)
  last_change=$start
  while :; do
    read -r warm_online warm_target _ _ < <(compare "$1" "$COPIES")
    ((warm_online > 0 && warm_target >= warm_online * COPIES)) && return 0
    if ((warm_target != last)); then last=$warm_target last_change=$(now_ms); fi
    (($(now_ms) - last_change < 10000 && $(now_ms) - start < 60000)) || return 0
    sleep 0.5
  done
}

# tcp_ext NAMESPACE: "ListenOverflows SyncookiesSent InSegs OutSegs" of the namespace's TCP stack (/proc/net is per
# namespace). The segments are the target's own: forwarded cluster traffic never reaches its TCP, so per replayed
# request they say how many packets a replayer makes the target take and send (its share of the target's CPU).
tcp_ext() {
  ip netns exec "$1" cat /proc/net/netstat /proc/net/snmp | awk '
    ($1 == "TcpExt:" || $1 == "Tcp:") && !seen[$1] { for (i = 2; i <= NF; i++) name[$1, i] = $i; seen[$1] = 1; next }
    $1 == "TcpExt:" || $1 == "Tcp:" { for (i = 2; i <= NF; i++) v[name[$1, i]] = $i }
    END { print v["ListenOverflows"] + 0, v["SyncookiesSent"] + 0, v["InSegs"] + 0, v["OutSegs"] + 0 }'
}

# compare PREFIX COPIES: the online and target access logs, id by id -> "online target missing duplicated"
compare() {
  awk -v p="id=$1-" -v n="$2" -v online="$ONLINE_LOG" '
    {
      i = index($0, p); if (i == 0) next
      s = substr($0, i + 3); e = match(s, /[ "&]/); id = (e > 0 ? substr(s, 1, e - 1) : s)
      if (FILENAME == online) { on[id]++; non++ } else { tg[id]++; ntg++ }
    }
    END {
      for (id in on) { c = tg[id] + 0; if (c < n) miss += n - c; else dup += c - n }
      for (id in tg) if (!(id in on)) dup += tg[id]
      printf "%d %d %d %d\n", non, ntg, miss, dup
    }' "$ONLINE_LOG" "$TARGET_LOG"
}

# ---------------------------------------------------------------- a phase

printf 'rep\tpoint\tmode\twrk_requests\tonline_rps\tonline_logged\ttarget_logged\ttarget_rps\tmissing\tmissing_pct\tduplicated\tdrain_s\tcpu_s\tcpu_us_per_req\tcpu_s_per_proc\tpeak_rss_mb\tstart_rss_mb\tidle_cpu_pct\tidle_rss_mb\tsocket_errors\twarmup_online\twarmup_target\ttarget_listen_overflows\ttarget_syncookies\ttarget_segs_in_per_req\ttarget_segs_out_per_req\tcapture_ms\trelay_ms\tloadavg\tstop\n' >"$RESULTS"

phase() { # REP POINT MODE
  local rep=$1 point=$2 mode=$3 prefix
  prefix=${point}${mode:0:1}$rep
  PHASE_DIR=$RUN_DIR/$rep-$point-$mode
  mkdir -p "$PHASE_DIR"
  point_load "$point"
  local start_rss=- idle_pct=- idle_rss=- warm_online=- warm_target=- loadavg
  case $mode in
    tcpcopy) start_tcpcopy "$COPIES" ;;
    replaycluster) start_replaycluster "$COPIES" ;;
  esac
  if [[ $mode != none ]]; then
    start_rss=$(mb_csv "$(per_proc kb_of VmRSS)")
    # Warm-up (JIT, pools, caches), replayed and drained before the idle window.
    run_wrk "w$prefix" 2 2 "$PHASE_DIR/wrk-warmup.txt"
    wait_warm "w$prefix"
    sleep "$SETTLE"
    local t0 t1
    t0=$(per_proc ticks_of)
    sleep "$IDLE"
    t1=$(per_proc ticks_of)
    idle_pct=$(paste -d' ' <(tr ',' '\n' <<<"$t0") <(tr ',' '\n' <<<"$t1") |
      awk -v h="$CLK_TCK" -v s="$IDLE" '{ printf "%s%.2f", (NR > 1 ? "," : ""), ($2 - $1) / h / s * 100 }')
    idle_rss=$(mb_csv "$(per_proc kb_of VmRSS)")
  fi

  # Fresh logs for the load (nginx appends with O_APPEND, so truncating in place is safe); the ids keep
  # any straggler of an earlier phase apart anyway.
  : >"$ONLINE_LOG"
  : >"$TARGET_LOG"
  local ticks0 load_end
  loadavg=$(cut -d' ' -f1 /proc/loadavg)
  local ovf0 cookies0 ovf1 cookies1 in0 out0 in1 out1
  read -r ovf0 cookies0 in0 out0 < <(tcp_ext "${LAB[NS_TARGET]}")
  ticks0=$(per_proc ticks_of)
  run_wrk "$prefix" "$CONNS" "$DURATION" "$PHASE_DIR/wrk.txt"
  load_end=$(now_ms)
  local drain_s=0 cpu_s=- cpu_per_proc=- peak=- stop=- latency_capture=- latency_relay=-
  if [[ $mode != none ]]; then
    wait_quiet "$TARGET_LOG" "$DRAIN_QUIET" "$DRAIN_MAX"
    drain_s=$(awk -v a="$load_end" -v b="$LAST_GROWTH_MS" 'BEGIN { d = (b - a) / 1000; printf "%.1f", (d > 0 ? d : 0) }')
    cpu_per_proc=$(paste -d' ' <(tr ',' '\n' <<<"$ticks0") <(tr ',' '\n' <<<"$LAST_TICKS") |
      awk -v h="$CLK_TCK" '{ printf "%s%.2f", (NR > 1 ? "," : ""), ($2 - $1) / h }')
    cpu_s=$(sum_csv "$cpu_per_proc")
    peak=$(mb_csv "$(per_proc kb_of VmHWM)")
    local alive=1 pid
    for pid in "${PROCS[@]}"; do kill -0 "$pid" 2>/dev/null || alive=0; done
    ((alive)) || echo "$PROG: warning: a replayer process died during $PHASE_DIR (see its logs)" >&2
    stop_replayer
    stop=$STOP_EXITS
    if [[ $mode == replaycluster ]]; then
      # The capture node's last statistics line ends with its latency histograms' percentiles since start
      # (" | latency capture p50=Xms p99=Yms relay p50=..."): kernel capture -> session, intercept capture -> session.
      read -r latency_capture latency_relay < <(grep -h " | latency " "$PHASE_DIR/capture.out" | tail -n 1 |
        sed -n 's/.*| latency capture p50=\([0-9.]*\)ms p99=\([0-9.]*\)ms relay p50=\([0-9.]*\)ms p99=\([0-9.]*\)ms.*/\1,\2 \3,\4/p')
    fi
  fi
  read -r ovf1 cookies1 in1 out1 < <(tcp_ext "${LAB[NS_TARGET]}")

  local wrk_requests wrk_seconds online_rps errors online_n target_n missing dup target_rps cpu_us missing_pct segs_in=- segs_out=-
  wrk_requests=$(awk '/requests in/ { print $1 }' "$PHASE_DIR/wrk.txt")
  wrk_seconds=$(awk '/requests in/ { t = $4; sub(/s,?$/, "", t); print t }' "$PHASE_DIR/wrk.txt")
  online_rps=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' "$PHASE_DIR/wrk.txt")
  errors=$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$PHASE_DIR/wrk.txt")
  read -r online_n target_n missing dup < <(compare "$prefix" "$COPIES")
  if [[ $mode == none ]]; then
    missing=- dup=- target_rps=- cpu_us=- missing_pct=-
  else
    missing_pct=$(awk -v m="$missing" -v n="$online_n" -v c="$COPIES" 'BEGIN { if (n > 0) printf "%.2f", m * 100 / (n * c); else print "-" }')
    target_rps=$(awk -v n="$target_n" -v s="$wrk_seconds" -v d="$drain_s" 'BEGIN { printf "%.0f", n / (s + d) }')
    cpu_us=$(awk -v c="$cpu_s" -v n="$target_n" 'BEGIN { if (n > 0) printf "%.1f", c * 1e6 / n; else print "-" }')
    segs_in=$(awk -v d="$((in1 - in0))" -v n="$target_n" 'BEGIN { if (n > 0) printf "%.2f", d / n; else print "-" }')
    segs_out=$(awk -v d="$((out1 - out0))" -v n="$target_n" 'BEGIN { if (n > 0) printf "%.2f", d / n; else print "-" }')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$rep" "$point" "$mode" "$wrk_requests" "$online_rps" "$online_n" "$target_n" "$target_rps" "$missing" "$missing_pct" \
    "$dup" "$drain_s" "$cpu_s" "$cpu_us" "$cpu_per_proc" "$peak" "$start_rss" "$idle_pct" "$idle_rss" "${errors:-0}" \
    "$warm_online" "$warm_target" "$((ovf1 - ovf0))" "$((cookies1 - cookies0))" "$segs_in" "$segs_out" "${latency_capture:--}" "${latency_relay:--}" \
    "$loadavg" "$stop" >>"$RESULTS"
  log "rep $rep $point $mode: online $online_rps req/s ($online_n logged), target $target_n ($target_rps req/s)," \
    "missing $missing ($missing_pct %), dup $dup, drain ${drain_s} s, cpu ${cpu_s} s ($cpu_per_proc) = $cpu_us us/req," \
    "peak RSS $peak MB, start RSS $start_rss MB, idle $idle_pct % / $idle_rss MB, wrk errors ${errors:-0}," \
    "warm-up replayed $warm_target of $warm_online, target listen overflows $((ovf1 - ovf0)) syncookies $((cookies1 - cookies0)), target segments in/out per request $segs_in/$segs_out," \
    "capture latency p50,p99 ${latency_capture:--} ms, relay ${latency_relay:--} ms, load average $loadavg, stop $stop"
  # Online nginx logs are not needed any more; keep the disk small.
  : >"$ONLINE_LOG"
  : >"$TARGET_LOG"
}

# ---------------------------------------------------------------- the run

T0=$(now_ms)
log "points ${POINTS}; modes ${MODES}; ${REPS} repetition(s); ${DURATION} s load, ${IDLE} s idle, drain quiet ${DRAIN_QUIET} s; GET ${URL_PATH}"
for ((rep = 1; rep <= REPS; rep++)); do
  for point in "${POINT_LIST[@]}"; do
    for mode in "${MODE_LIST[@]}"; do
      phase "$rep" "$point" "$mode"
    done
  done
done

# ---------------------------------------------------------------- medians

# median_of POINT MODE COLUMN: median of a numeric column; for comma lists, per position ("a / b / c").
median_of() {
  awk -F'\t' -v p="$1" -v m="$2" -v c="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) col = i; next }
    $2 == p && $3 == m && $col != "-" && $col != "" {
      k = split($col, v, ","); if (k > width) width = k
      for (j = 1; j <= k; j++) vals[j, ++cnt[j]] = v[j]
    }
    function med(j,   n, i, a, t, x, y) {
      n = cnt[j]; for (i = 1; i <= n; i++) a[i] = vals[j, i] + 0
      for (x = 2; x <= n; x++) { t = a[x]; for (y = x - 1; y >= 1 && a[y] > t; y--) a[y + 1] = a[y]; a[y + 1] = t }
      return (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
    }
    END {
      if (width == 0) { print "-"; exit }
      for (j = 1; j <= width; j++) { r = med(j); printf "%s%s", (j > 1 ? " / " : ""), (r == int(r) ? sprintf("%d", r) : sprintf((r < 10 ? "%.2f" : "%.1f"), r)) }
      print ""
    }' "$RESULTS"
}

echo
echo "Side by side, medians of $REPS repetition(s), ${DURATION} s of load per phase, IPv$FAMILY clients (lab $LAB_ID, $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "per process: tcpcopy / intercept; capture / intercept / coordinator. CPU over load + drain; share = online req/s / online req/s without replay"
echo
echo "| point | mode | online req/s | share | target req/s | missing (% of online x copies) | duplicated | drain s | µs CPU per replayed req | peak RSS MB | start RSS MB | idle CPU % of a core | idle RSS MB | target listen overflows / SYN cookies | target segments in / out per replayed req | capture latency p50 / p99 ms | relay latency p50 / p99 ms |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---|---|---|---|"
for point in "${POINT_LIST[@]}"; do
  base=$(median_of "$point" none online_rps)
  for mode in "${MODE_LIST[@]}"; do
    online=$(median_of "$point" "$mode" online_rps)
    target_syn="$(median_of "$point" "$mode" target_listen_overflows) / $(median_of "$point" "$mode" target_syncookies)"
    share=$(awk -v a="$online" -v b="$base" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.0f %%", a / b * 100; else print "-" }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$point" "$mode" "$online" "$share" \
      "$(median_of "$point" "$mode" target_rps)" \
      "$(median_of "$point" "$mode" missing)$(awk -v v="$(median_of "$point" "$mode" missing_pct)" 'BEGIN { if (v != "-") printf " (%s %%)", v }')" \
      "$(median_of "$point" "$mode" duplicated)" "$(median_of "$point" "$mode" drain_s)" \
      "$(median_of "$point" "$mode" cpu_us_per_req)" "$(median_of "$point" "$mode" peak_rss_mb)" \
      "$(median_of "$point" "$mode" start_rss_mb)" "$(median_of "$point" "$mode" idle_cpu_pct)" \
      "$(median_of "$point" "$mode" idle_rss_mb)" "$target_syn" \
      "$(median_of "$point" "$mode" target_segs_in_per_req) / $(median_of "$point" "$mode" target_segs_out_per_req)" \
      "$(median_of "$point" "$mode" capture_ms)" "$(median_of "$point" "$mode" relay_ms)"
  done
done
echo
echo "load average (1 min) at the start of each load: $(awk -F'\t' 'NR > 1 { printf "%s%s", (NR > 2 ? " " : ""), $(NF - 1) }' "$RESULTS")"
echo "raw values per phase: $RESULTS; total $(awk -v a="$T0" -v b="$(now_ms)" 'BEGIN { printf "%.0f", (b - a) / 1000 }') s"
