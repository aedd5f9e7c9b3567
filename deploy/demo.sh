#!/usr/bin/env bash
# ReplayCluster's main command: a live replay in a lab of network namespaces, with a progress line and a
# final report. See --help.
set -euo pipefail

PROG=$(basename "$0")
REPO=$(cd "$(dirname "$0")/.." && pwd)
LAB_SH=$REPO/deploy/lab/lab.sh

usage() {
  cat <<EOF
NAME
    $PROG - replay live HTTP traffic from online hosts to a target host, in a lab

SYNOPSIS
    $PROG [--duration SECONDS] [--load keepalive|short|mixed] [--connections N]
            [--onlines N] [--multiplier N] [--offloads on|off] [--threshold RATIO] [--path PATH]
            [--configuration Release|Debug] [--no-build] [--keep] [--id ID]
            [--run-dir DIR] [--tls on|off]
    $PROG --help

DESCRIPTION
    One command from a clean Debian machine (as root, .NET 10 SDK on PATH) to a running
    replay:

      1. installs the prerequisites (deploy/install-prereqs.sh, idempotent);
      2. builds ReplayCluster.sln (skip with --no-build);
      3. builds a lab of network namespaces with deploy/lab/lab.sh: client, online
         host(s) with nginx, a target host with nginx, an assistant host;
      4. creates the lab's cluster CA and one certificate per node (lab.sh certs,
         with replaycluster-coordinator certs; files in the lab's state directory),
         starts the coordinator (target namespace), the intercept node (assistant)
         and one capture node per online host, all speaking mutual TLS, each with
         its /healthz and /readyz on port 9100, and waits until every node's
         /readyz says ready (joined; a capture node also has its slice and plan,
         an intercept knows it, and it captures) (at most 45 s; otherwise it
         stops with each node's reasons and the tail of the logs);
      5. sends one warm-up request per online host and waits until it is replayed,
         then starts a run with the coordinator's CLI (replaycluster-coordinator
         run start) once nothing is in flight;
      6. drives wrk from the client namespace against the online nginx for
         --duration seconds, with a progress line refreshed every second:

           t=  7s  coordinator: online  16012 req/s  replayed  15998 req/s  in flight    14  lost     0  behind 0.001 s  | access logs: online  16012 req/s  target  15998 req/s

         the coordinator's side comes from its /api/status (rates, requests in
         flight in live sessions, requests lost, replay lag); the access logs'
         rates are the independent check;
      7. stops the load, waits for the replay to drain (until the target's count
         reaches the online count or stops growing for 3 s), waits until the run's
         counts settle, stops the run (run stop), and prints the coordinator's run
         report beside the access-log counts of the run; they must agree;
      8. stops the nodes (SIGTERM: they leave the cluster) and takes the lab down,
         also on failure and on Ctrl-C. A detached lab.sh guard takes the lab down
         even if this script is killed with SIGKILL.

    All traffic stays inside the lab's namespaces, linked only to each other.
    Capture node K replays its online host's traffic to the target from its own
    slice of the fake client range, handed out by the coordinator, so client
    identities never collide.

OPTIONS
    --duration SECONDS   Load duration (1-600). Default 20.
    --load MODE          keepalive (default): wrk with persistent connections.
                         short: every request on a new connection
                         (-H 'Connection: close'). mixed: half the connections
                         of each kind (two wrk processes per online host).
    --connections N      wrk connections per online host (1-1000). Default 8.
    --onlines N          Online hosts, one capture node each (1-4). Default 1.
    --multiplier N       Copies of every session replayed (capture -n), each from
                         its own client identity: the target serves N times the
                         online load (1-100). Default 1.
    --offloads on|off    off (default): segmentation and checksum offloads off on
                         every veth (wire-like captures). on: ~64 KB super-segments
                         and unfilled checksums, which the capture node must split
                         and fix.
    --threshold RATIO    Highest loss ratio that still passes. Default 0.01.
    --path PATH          URL path requested from the online nginx: / (small page),
                         /1k (default), /64k, /1m.
    --configuration C    Release (default) or Debug: which build to run (and build).
    --no-build           Do not build; run the binaries of --configuration as they
                         are (the test suite uses this after its own build).
    --keep               Leave the lab and the nodes running after the report and
                         print how to tear them down.
    --id ID              Lab id (1-8 of [a-z0-9]). Default: d + 5 random hex digits.
    --run-dir DIR        Where node logs and wrk output go (kept after the run).
                         Default /tmp/replaycluster-demo-ID.
    --tls on|off         on (default): mutual TLS between the nodes, as in
                         production. off: plain TCP (replaycluster.cluster.tls = off,
                         development only; the nodes log a warning), e.g. to measure
                         what TLS costs.
    -h, --help           This text.

    There is no --rate: Debian's wrk has no constant-rate mode (wrk2's -R). The
    traffic multiplier is future work (the coordinator does not plan it yet).

ENVIRONMENT
    LAB_STATE_DIR        Where lab.sh keeps lab state (default /run/replaycluster-lab);
                         the online and target access logs live there.

FILES
    RUN_DIR/coordinator.log, intercept.log, capture.log, capture2.log, ...
    RUN_DIR/wrk-*.txt    wrk's own summary per load process.
    RUN_DIR/access-online1.log, access-online2.log, ..., access-target.log
                         copies of the nginx access logs, taken at teardown.

EXIT STATUS
    0  the replay kept up: |loss ratio| <= --threshold and the online host served
       at least one request
    1  too much loss, no traffic, or a step failed (the message says which)
    2  usage error
    130, 143  interrupted (Ctrl-C, SIGTERM); the lab is torn down first

EXAMPLES
    sudo deploy/demo.sh
    sudo deploy/demo.sh --duration 10 --load short --connections 4
    sudo deploy/demo.sh --onlines 2 --load mixed
    sudo deploy/demo.sh --keep          # then: sudo deploy/lab/lab.sh down --id ID
EOF
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage_error() {
  echo "$PROG: $*" >&2
  echo "Try '$PROG --help'." >&2
  exit 2
}

# The clock of the polling loops below, from bash itself: `date` was a program started per poll (every 0.1-0.5 s
# in the waits), CPU the demo took from the two cores of the replay it measures. EPOCHREALTIME is "S.UUUUUU"
# (the separator follows the locale).
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo "$((10#$t / 1000))"
}

seconds_since() { # START_MS -> "12.3"
  awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'
}

# ---------------------------------------------------------------- options

DURATION=20
LOAD=keepalive
CONNECTIONS=8
ONLINES=1
MULTIPLIER=1
OFFLOADS=off
THRESHOLD=0.01
URL_PATH=/1k
CONFIGURATION=Release
BUILD=1
KEEP=0
TLS=on
LAB_ID=""
RUN_DIR=""

while (($# > 0)); do
  case $1 in
    --duration) DURATION=${2:-}; shift 2 || usage_error "--duration needs a value" ;;
    --load) LOAD=${2:-}; shift 2 || usage_error "--load needs a value" ;;
    --connections) CONNECTIONS=${2:-}; shift 2 || usage_error "--connections needs a value" ;;
    --onlines) ONLINES=${2:-}; shift 2 || usage_error "--onlines needs a value" ;;
    --multiplier) MULTIPLIER=${2:-}; shift 2 || usage_error "--multiplier needs a value" ;;
    --offloads) OFFLOADS=${2:-}; shift 2 || usage_error "--offloads needs a value" ;;
    --threshold) THRESHOLD=${2:-}; shift 2 || usage_error "--threshold needs a value" ;;
    --path) URL_PATH=${2:-}; shift 2 || usage_error "--path needs a value" ;;
    --configuration | -c) CONFIGURATION=${2:-}; shift 2 || usage_error "--configuration needs a value" ;;
    --no-build) BUILD=0; shift ;;
    --keep) KEEP=1; shift ;;
    --id) LAB_ID=${2:-}; shift 2 || usage_error "--id needs a value" ;;
    --run-dir) RUN_DIR=${2:-}; shift 2 || usage_error "--run-dir needs a value" ;;
    --tls) TLS=${2:-}; shift 2 || usage_error "--tls needs a value" ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done

if ! [[ $DURATION =~ ^[0-9]+$ ]] || ((DURATION < 1 || DURATION > 600)); then
  usage_error "--duration must be 1-600 seconds, not '$DURATION'"
fi
if ! [[ $MULTIPLIER =~ ^[0-9]+$ ]] || ((MULTIPLIER < 1 || MULTIPLIER > 100)); then
  usage_error "--multiplier must be 1-100, not '$MULTIPLIER'"
fi
[[ $LOAD =~ ^(keepalive|short|mixed)$ ]] || usage_error "--load must be keepalive, short or mixed, not '$LOAD'"
if ! [[ $CONNECTIONS =~ ^[0-9]+$ ]] || ((CONNECTIONS < 1 || CONNECTIONS > 1000)); then
  usage_error "--connections must be 1-1000, not '$CONNECTIONS'"
fi
[[ $LOAD != mixed ]] || ((CONNECTIONS >= 2)) || usage_error "--load mixed needs --connections 2 or more"
[[ $ONLINES =~ ^[1-4]$ ]] || usage_error "--onlines must be 1-4, not '$ONLINES'"
[[ $OFFLOADS =~ ^(on|off)$ ]] || usage_error "--offloads must be on or off, not '$OFFLOADS'"
[[ $TLS =~ ^(on|off)$ ]] || usage_error "--tls must be on or off, not '$TLS'"
[[ $THRESHOLD =~ ^(0|1)?(\.[0-9]+)?$ && -n $THRESHOLD ]] || usage_error "--threshold must be a ratio 0-1, not '$THRESHOLD'"
[[ $URL_PATH =~ ^/[A-Za-z0-9._/-]*$ ]] || usage_error "--path must start with / and be a plain path, not '$URL_PATH'"
[[ $CONFIGURATION =~ ^(Release|Debug)$ ]] || usage_error "--configuration must be Release or Debug, not '$CONFIGURATION'"
[[ -z $LAB_ID || $LAB_ID =~ ^[a-z0-9]{1,8}$ ]] || usage_error "--id must be 1-8 of [a-z0-9], not '$LAB_ID'"
if [[ -z $LAB_ID ]]; then
  LAB_ID=d$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-5)
fi
RUN_DIR=${RUN_DIR:-/tmp/replaycluster-demo-$LAB_ID}

if [[ ${EUID} -ne 0 ]]; then
  die "must run as root: the lab creates network namespaces and the nodes capture with libpcap and send raw IP. Try: sudo $0"
fi

# ---------------------------------------------------------------- state and cleanup

declare -A LAB=()       # the lab's facts (KEY=VALUE lines of lab.sh up)
declare -A NODE_PID=()  # node name -> PID (the dotnet process: ip netns exec execs it)
NODES=()                # node names in start order
LOAD_PIDS=()
GUARD_PID=""
LAB_CREATED=0
REPORTED=0
CLEANED=0
T0=$(now_ms)

stop_pid() { # PID TIMEOUT_S [signalled]: SIGTERM (unless signalled), wait up to TIMEOUT_S, then SIGKILL;
  #          sets STOP_RC. Only ever our own children.
  local pid=$1 timeout=$2 signalled=${3:-} i
  STOP_RC=gone
  if [[ -z $signalled ]]; then kill -TERM "$pid" 2>/dev/null || return 0; fi
  for ((i = 0; i < timeout * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      STOP_RC=0
      wait "$pid" 2>/dev/null || STOP_RC=$?
      return 0
    fi
    sleep 0.1
  done
  echo "$PROG: PID $pid did not stop within ${timeout} s of SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  STOP_RC=killed
}

NODE_EXITS=""
stop_nodes() { # SIGTERM every node (they leave the cluster); the coordinator, the seed, last. Sets NODE_EXITS.
  local name
  for name in "${NODES[@]}"; do
    [[ $name == coordinator ]] || kill -TERM "${NODE_PID[$name]}" 2>/dev/null || true
  done
  for name in "${NODES[@]}"; do
    [[ $name == coordinator ]] && continue
    stop_pid "${NODE_PID[$name]}" 15 signalled
    NODE_EXITS+="${NODE_EXITS:+ }$name=$STOP_RC"
  done
  if [[ -n ${NODE_PID[coordinator]:-} ]]; then
    stop_pid "${NODE_PID[coordinator]}" 15
    NODE_EXITS+="${NODE_EXITS:+ }coordinator=$STOP_RC"
  fi
  NODES=()
}

# shellcheck disable=SC2317 # reached only from the EXIT trap
keep_access_logs() { # the nginx access logs leave with the lab: a copy in RUN_DIR lets a disagreement be traced per connection
  local k f
  declare -p ONLINE_LOGS >/dev/null 2>&1 || return 0 # failed before the lab's facts were read
  for ((k = 0; k < ${#ONLINE_LOGS[@]}; k++)); do
    f=${ONLINE_LOGS[k]}
    [[ -f $f ]] && cp "$f" "$RUN_DIR/access-online$((k + 1)).log"
  done
  [[ -n ${TARGET_LOG:-} && -f $TARGET_LOG ]] && cp "$TARGET_LOG" "$RUN_DIR/access-target.log"
  return 0
}

# shellcheck disable=SC2317 # reached only from the EXIT trap
cleanup() {
  local rc=$?
  ((CLEANED)) && return
  CLEANED=1
  trap '' INT TERM # a second Ctrl-C must not interrupt the teardown
  local pid started
  started=$(now_ms)
  for pid in "${LOAD_PIDS[@]}"; do stop_pid "$pid" 5; done
  if ((KEEP && REPORTED && LAB_CREATED)); then
    [[ -z $GUARD_PID ]] || kill -TERM -- "-$GUARD_PID" 2>/dev/null || true
    echo
    echo "--keep: the lab and the nodes still run."
    for name in "${NODES[@]}"; do echo "  $name: PID ${NODE_PID[$name]}, log $RUN_DIR/$name.log"; done
    echo "  run a command in a namespace:  $LAB_SH exec --id $LAB_ID client -- curl -s http://${LAB[ONLINE_IP]}$URL_PATH"
    echo "  tear down (stops the nodes too): ${LAB_STATE_DIR:+LAB_STATE_DIR=$LAB_STATE_DIR }$LAB_SH down --id $LAB_ID"
    exit "$rc"
  fi
  if ((${#NODES[@]} > 0)); then
    stop_nodes
  fi
  if ((LAB_CREATED)); then
    [[ -z $GUARD_PID ]] || kill -TERM -- "-$GUARD_PID" 2>/dev/null || true
    keep_access_logs
    "$LAB_SH" down --id "$LAB_ID" >/dev/null 2>"$RUN_DIR/lab-down.err" ||
      { echo "$PROG: lab.sh down --id $LAB_ID failed:" >&2; cat "$RUN_DIR/lab-down.err" >&2; }
    echo "lab $LAB_ID torn down in $(seconds_since "$started") s (logs kept in $RUN_DIR)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "$PROG: interrupted" >&2; exit 130' INT
trap 'echo "$PROG: terminated" >&2; exit 143' TERM
trap 'echo "$PROG: hangup" >&2; exit 129' HUP

# ---------------------------------------------------------------- prerequisites, build

step() { echo "== $*"; }

step "prerequisites"
"$REPO/deploy/install-prereqs.sh"

T_BUILD=$(now_ms)
if ((BUILD)); then
  step "building ReplayCluster.sln ($CONFIGURATION)"
  if ! (cd "$REPO" && dotnet build ReplayCluster.sln -c "$CONFIGURATION" -nologo -v quiet >"/tmp/replaycluster-demo-build.$$.log" 2>&1); then
    tail -n 40 "/tmp/replaycluster-demo-build.$$.log" >&2
    rm -f "/tmp/replaycluster-demo-build.$$.log"
    die "the build failed (output above)"
  fi
  rm -f "/tmp/replaycluster-demo-build.$$.log"
fi
BUILD_S=$(seconds_since "$T_BUILD")

declare -A DLL=()
for role in coordinator intercept capture; do
  dir=${role^}
  DLL[$role]=$REPO/src/$dir/bin/$CONFIGURATION/net10.0/replaycluster-$role.dll
  [[ -f ${DLL[$role]} ]] || die "${DLL[$role]} is missing: build first (without --no-build, or dotnet build -c $CONFIGURATION)"
done

# ---------------------------------------------------------------- lab

mkdir -p "$RUN_DIR"
step "lab $LAB_ID (onlines=$ONLINES offloads=$OFFLOADS), logs in $RUN_DIR"
T_LAB=$(now_ms)
LAB_CREATED=1 # lab.sh up removes what it built if it fails; down is idempotent either way
if ! "$LAB_SH" up --id "$LAB_ID" --onlines "$ONLINES" --offloads "$OFFLOADS" >"$RUN_DIR/lab.env" 2>"$RUN_DIR/lab-up.err"; then
  cat "$RUN_DIR/lab-up.err" >&2
  die "lab.sh up failed (output above)"
fi
# Whatever ends this script, even SIGKILL, the guard takes the lab down once we are gone. setsid
# makes it a process-group leader (a background child of a non-interactive shell is not one, so
# setsid does not fork and $! is the guard itself): cleanup stops it with its tail by group.
setsid "$LAB_SH" guard --id "$LAB_ID" --pid $$ </dev/null >/dev/null 2>&1 &
GUARD_PID=$!
while IFS='=' read -r key value; do
  [[ -n $key ]] && LAB[$key]=$value
done <"$RUN_DIR/lab.env"
LAB_S=$(seconds_since "$T_LAB")

sfx() { (($1 == 1)) || echo "$1"; } # online K's suffix in the lab's fact names: "", 2, 3, ...

ONLINE_LOGS=()
for ((k = 1; k <= ONLINES; k++)); do
  ONLINE_LOGS+=("${LAB[ONLINE$(sfx "$k")_ACCESS_LOG]}")
done
TARGET_LOG=${LAB[TARGET_ACCESS_LOG]}

# ---------------------------------------------------------------- nodes

# Mutual TLS between the nodes: the lab's cluster CA and one certificate per node (NAME.hocon per node).
if [[ $TLS == on ]]; then
  "$LAB_SH" certs --id "$LAB_ID" --with "dotnet ${DLL[coordinator]}" >"$RUN_DIR/tls.env" 2>"$RUN_DIR/tls.err" ||
    { cat "$RUN_DIR/tls.err" >&2; die "lab.sh certs failed (output above)"; }
  while IFS='=' read -r key value; do
    [[ -n $key ]] && LAB[$key]=$value
  done <"$RUN_DIR/tls.env"
fi

# Every node answers /healthz and /readyz on this port of its --hostname (one node per namespace here); the
# waits below read /readyz, never the nodes' log wording.
HEALTH_PORT=9100
declare -A NODE_NS=() NODE_IP=()
start_node() { # NAME NAMESPACE ROLE ARGS... (ARGS start with --hostname IP)
  local name=$1 ns=$2 role=$3 tls
  shift 3
  NODE_NS[$name]=$ns
  NODE_IP[$name]=$2
  if [[ $TLS == on ]]; then
    tls=(--config "${LAB[TLS_CONFIG_${name^^}]}")
  else
    tls=(--set replaycluster.cluster.tls=off)
  fi
  ip netns exec "$ns" dotnet "${DLL[$role]}" "${tls[@]}" "$@" --set "replaycluster.$role.health.port=$HEALTH_PORT" \
    </dev/null >"$RUN_DIR/$name.log" 2>&1 &
  NODE_PID[$name]=$!
  NODES+=("$name")
}

fail_with_logs() { # MESSAGE NAME...
  local message=$1 name
  shift
  for name in "$@"; do
    echo "---- last lines of $RUN_DIR/$name.log" >&2
    tail -n 15 "$RUN_DIR/$name.log" | cut -c1-400 >&2
  done
  die "$message"
}

readyz() { # NAME -> the node's /readyz JSON (empty when it does not answer yet)
  ip netns exec "${NODE_NS[$1]}" curl -s --max-time 2 "http://${NODE_IP[$1]}:$HEALTH_PORT/readyz" 2>/dev/null || true
}

wait_ready() { # TIMEOUT_S NAME...: until every named node's /readyz says "ready":true
  local timeout=$1 deadline name pending answer
  shift
  deadline=$(($(now_ms) + timeout * 1000))
  while :; do
    pending=()
    for name in "$@"; do
      kill -0 "${NODE_PID[$name]}" 2>/dev/null ||
        fail_with_logs "the $name node exited before it was ready" "$name"
      answer=$(readyz "$name")
      # The node's own "ready" (first after "role"), not one of its checks'.
      [[ $answer =~ ^\{\"role\":\"[a-z]+\",\"ready\":true ]] || pending+=("$name: ${answer:-no answer}")
    done
    ((${#pending[@]} == 0)) && return 0
    (($(now_ms) < deadline)) || {
      printf '  not ready: %s\n' "${pending[@]}" >&2
      fail_with_logs "not ready within $timeout s" "$@"
    }
    sleep 0.2
  done
}

T_JOIN=$(now_ms)
SEED=${LAB[TARGET_IP]}:4053
step "starting the coordinator on ${LAB[TARGET_IP]}, the intercept node on ${LAB[ASSISTANT_IP]}, $ONLINES capture node(s)"
# The coordinator divides the fake client range into one slice per capture node.
# Its HTTP API token (mode 0600) goes to the run's folder, not /var/lib/replaycluster of this machine.
API_TOKEN_FILE=$RUN_DIR/api-token
start_node coordinator "${LAB[NS_TARGET]}" coordinator --hostname "${LAB[TARGET_IP]}" --port 4053 -c "${LAB[FAKE_RANGE]}" \
  --token-file "$API_TOKEN_FILE"
# The others join faster once the seed listens (no retry back-off), so wait for it first.
wait_ready 30 coordinator
start_node intercept "${LAB[NS_ASSISTANT]}" intercept --hostname "${LAB[ASSISTANT_IP]}" --seed "$SEED" -i "${LAB[ASSISTANT_IF]}"
CAPTURES=()
for ((k = 1; k <= ONLINES; k++)); do
  s=$(sfx "$k")
  start_node "capture$s" "${LAB[NS_ONLINE$s]}" capture --hostname "${LAB[ONLINE${s}_UPLINK_IP]}" --seed "$SEED" \
    -i "${LAB[ONLINE${s}_IF]}" -x "80-${LAB[TARGET${s}_IP]}:${LAB[TARGET_NGINX_PORT]}" -n "$MULTIPLIER"
  CAPTURES+=("capture$s")
done
# Ready: joined; a capture node also has its identity slice and the plan, an intercept knows it, and it captures.
wait_ready 45 "${NODES[@]}"
JOIN_S=$(seconds_since "$T_JOIN")
echo "   all ${#NODES[@]} nodes ready (their /readyz) in $JOIN_S s"
echo "   dashboard: http://127.0.0.1:8080/ inside the target namespace, bearer token in $API_TOKEN_FILE (e.g. sudo ip netns exec ${LAB[NS_TARGET]} dotnet ${DLL[coordinator]} status --token-file $API_TOKEN_FILE;"
echo "   or curl -H \"Authorization: Bearer \$(cat $API_TOKEN_FILE)\" http://127.0.0.1:8080/api/status; Prometheus: /metrics, same token)"

# ---------------------------------------------------------------- counting

# Incremental line counts of the access logs: only the bytes added since the last look are read
# (the logs grow by ~100 MB a minute under load). Not in a subshell: the offsets must persist.
declare -A LOG_OFFSET=() LOG_LINES=()
count_lines() { # FILE: updates LOG_LINES[FILE]
  local file=$1 size off added
  off=${LOG_OFFSET[$file]:-0}
  size=$(stat -c %s "$file" 2>/dev/null || echo 0)
  if ((size > off)); then
    # head stops at SIZE (a consistent snapshot); tail reads all its input, so nothing gets SIGPIPE.
    added=$(head -c "$size" "$file" | tail -c +"$((off + 1))" | tr -cd '\n' | wc -c)
    LOG_LINES[$file]=$((${LOG_LINES[$file]:-0} + added))
    LOG_OFFSET[$file]=$size
  fi
}

ONLINE_N=0
TARGET_N=0
refresh_counts() { # sets ONLINE_N (all online access logs) and TARGET_N (the target's access log)
  local f total=0
  for f in "${ONLINE_LOGS[@]}"; do
    count_lines "$f"
    total=$((total + ${LOG_LINES[$f]:-0}))
  done
  ONLINE_N=$total
  count_lines "$TARGET_LOG"
  TARGET_N=${LOG_LINES[$TARGET_LOG]:-0}
}

api() { # PATH -> the coordinator's JSON (its HTTP API, loopback in the target namespace, with the run's token)
  ip netns exec "${LAB[NS_TARGET]}" curl -sS --max-time 5 -H "Authorization: Bearer $(cat "$API_TOKEN_FILE")" "http://127.0.0.1:8080$1"
}

cli() { # ARGS... -> replaycluster-coordinator's client command (run start|stop|report, status) against the API
  ip netns exec "${LAB[NS_TARGET]}" dotnet "${DLL[coordinator]}" "$@" --token-file "$API_TOKEN_FILE"
}

field() { # JSON NAME -> the first number (or null) under "NAME" in JSON, "-" if absent (no grep | head | cut per poll)
  local re="\"$2\":([-0-9.eE+nul]*)"
  if [[ $1 =~ $re && -n ${BASH_REMATCH[1]} ]]; then echo "${BASH_REMATCH[1]}"; else echo -; fi
}

wait_report_settled() { # TIMEOUT_S: until the run's online and replayed counts have not moved for 3 s (nodes report every second)
  local deadline=$(($(now_ms) + $1 * 1000)) last="" now since
  since=$(now_ms)
  while (($(now_ms) < deadline)); do
    report=$(api /api/report 2>/dev/null || true)
    now="$(field "$report" onlineRequests)/$(field "$report" replayedRequests)"
    if [[ $now != "$last" ]]; then last=$now since=$(now_ms); elif (($(now_ms) - since >= 3000)); then return 0; fi
    sleep 0.5
  done
  echo "   the run's counts still moved after $1 s (last $last)"
}

ratio() { # ONLINE TARGET -> (online x multiplier - target) / (online x multiplier), 4 decimals
  awk -v o="$(($1 * MULTIPLIER))" -v t="$2" 'BEGIN { if (o == 0) print "n/a"; else printf "%.4f", (o - t) / o }'
}

# ---------------------------------------------------------------- warm-up

step "warm-up: one request per online host"
for ((k = 1; k <= ONLINES; k++)); do
  ip=${LAB[ONLINE$(sfx "$k")_IP]}
  code=$(ip netns exec "${LAB[NS_CLIENT]}" curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://$ip$URL_PATH") ||
    die "warm-up request to http://$ip$URL_PATH failed"
  [[ $code == 200 ]] || die "warm-up request to http://$ip$URL_PATH answered HTTP $code"
done
T_WARM=$(now_ms)
while refresh_counts && ((TARGET_N < ONLINE_N * MULTIPLIER)); do
  if (($(now_ms) - T_WARM > 10000)); then
    fail_with_logs "the warm-up request was not replayed to the target within 10 s (online $ONLINE_N, target $TARGET_N)" "${CAPTURES[@]}" intercept
  fi
  sleep 0.1
done
echo "   replayed to the target after $(seconds_since "$T_WARM") s"

# The run counts what the capture nodes report from its start: start it once the warm-up is counted and
# nothing is in flight (the nodes report every second), so both sides of the report begin at the same point.
T_IDLE=$(now_ms)
last="" since=$T_IDLE
while (($(now_ms) - T_IDLE < 15000)); do
  status=$(api /api/status 2>/dev/null || true)
  now="$(field "$status" requests_captured)/$(field "$status" requestsInFlight)"
  if [[ $now != "$last" || $now != */0 ]]; then last=$now since=$(now_ms); elif (($(now_ms) - since >= 2000)); then break; fi
  sleep 0.5
done
step "run start (replaycluster-coordinator run start: the coordinator counts the run from now)"
cli run start | sed 's/^/   /' || die "run start failed"

# ---------------------------------------------------------------- load

start_wrk() { # NAME URL CONNECTIONS [HEADER]
  local name=$1 url=$2 conns=$3 header=${4:-}
  local args=(-t1 -c"$conns" -d"${DURATION}s" --timeout 5s)
  [[ -z $header ]] || args+=(-H "$header")
  ip netns exec "${LAB[NS_CLIENT]}" timeout -k 5 "$((DURATION + 15))" wrk "${args[@]}" "$url" \
    </dev/null >"$RUN_DIR/wrk-$name.txt" 2>&1 &
  LOAD_PIDS+=($!)
}

step "load: $LOAD, $CONNECTIONS connection(s) per online host, $DURATION s (wrk from the client namespace)"
refresh_counts # the access logs' side of the run starts here, with the coordinator's
ONLINE0=$ONLINE_N
TARGET0=$TARGET_N
for ((k = 1; k <= ONLINES; k++)); do
  s=$(sfx "$k")
  url=http://${LAB[ONLINE${s}_IP]}$URL_PATH
  case $LOAD in
    keepalive) start_wrk "online$s-keepalive" "$url" "$CONNECTIONS" ;;
    short) start_wrk "online$s-short" "$url" "$CONNECTIONS" "Connection: close" ;;
    mixed)
      start_wrk "online$s-keepalive" "$url" "$((CONNECTIONS - CONNECTIONS / 2))"
      start_wrk "online$s-short" "$url" "$((CONNECTIONS / 2))" "Connection: close"
      ;;
  esac
done
T_LOAD=$(now_ms)

if [[ -t 1 ]]; then LIVE_END=$'\r\033[K'; LIVE_NL=""; else LIVE_END=""; LIVE_NL=$'\n'; fi
progress() { # ELAPSED_S ONLINE TARGET ONLINE_RATE TARGET_RATE
  # The coordinator's view (/api/status): rates, requests in flight in the live sessions, requests lost (sessions
  # that ended before the target acknowledged them) and behind (seconds of replay the in-flight requests are). The
  # access logs' rates beside it are the independent check.
  local status
  status=$(api /api/status 2>/dev/null || true)
  printf '%st=%3ds  coordinator: online %6.0f req/s  replayed %6.0f req/s  in flight %5s  lost %5s  behind %5s s  | access logs: online %6d req/s  target %6d req/s%s' \
    "$LIVE_END" "$1" "$(field "$status" onlineRequestRate)" "$(field "$status" replayedRequestRate)" "$(field "$status" requestsInFlight)" \
    "$(field "$status" requestsLost)" "$(field "$status" behindSeconds | sed 's/^null$/0/' | cut -c1-5)" "$4" "$5" "$LIVE_NL"
}

prev_online=$ONLINE0
prev_target=$TARGET0
prev_ms=$T_LOAD
next_ms=$((T_LOAD + 1000))
PEAK_ONLINE_RATE=0
PEAK_TARGET_RATE=0
while :; do
  running=0
  for pid in "${LOAD_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
  ((running)) || break
  wait_ms=$((next_ms - $(now_ms)))
  ((wait_ms <= 0)) || sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
  next_ms=$((next_ms + 1000))
  t=$(now_ms)
  refresh_counts
  online=$ONLINE_N target=$TARGET_N
  dt=$((t - prev_ms))
  ((dt > 0)) || dt=1
  online_rate=$(((online - prev_online) * 1000 / dt))
  target_rate=$(((target - prev_target) * 1000 / dt))
  ((online_rate <= PEAK_ONLINE_RATE)) || PEAK_ONLINE_RATE=$online_rate
  ((target_rate <= PEAK_TARGET_RATE)) || PEAK_TARGET_RATE=$target_rate
  progress "$(((t - T_LOAD + 500) / 1000))" "$online" "$target" "$online_rate" "$target_rate"
  prev_online=$online prev_target=$target prev_ms=$t
done
for pid in "${LOAD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
LOAD_PIDS=()
[[ -t 1 ]] && echo
LOAD_S=$(seconds_since "$T_LOAD")
refresh_counts
LOAD_ONLINE=$((ONLINE_N - ONLINE0))

# ---------------------------------------------------------------- drain

step "load stopped; waiting for the replay to drain (at most $((DURATION + 20)) s)"
T_DRAIN=$(now_ms)
refresh_counts
last=$TARGET_N
last_change=$T_DRAIN
while :; do
  refresh_counts
  online=$ONLINE_N target=$TARGET_N
  ((target == last)) || { last=$target; last_change=$(now_ms); }
  ((target >= online * MULTIPLIER)) && break
  (($(now_ms) - last_change >= 3000)) && break
  (($(now_ms) - T_DRAIN >= (DURATION + 20) * 1000)) && break
  sleep 0.25
done
DRAIN_S=$(seconds_since "$T_DRAIN")

# The coordinator's report: wait until the nodes' last reports of the run arrived, then stop it (run stop prints it).
wait_report_settled 20
step "run stop (replaycluster-coordinator run stop)"
cli run stop >"$RUN_DIR/run-report.txt" 2>&1 || { cat "$RUN_DIR/run-report.txt" >&2; die "run stop failed"; }
REPORT_JSON=$(api /api/report)
printf '%s\n' "$REPORT_JSON" >"$RUN_DIR/run-report.json"

if ((!KEEP)); then
  step "stopping the nodes (SIGTERM: they leave the cluster)"
  T_STOP=$(now_ms)
  stop_nodes
  echo "   stopped in $(seconds_since "$T_STOP") s, exit codes: $NODE_EXITS"
fi

# ---------------------------------------------------------------- report

refresh_counts
ONLINE=$ONLINE_N
TARGET=$TARGET_N
LOSS=$(ratio "$ONLINE" "$TARGET")
RUN_ONLINE=$((ONLINE - ONLINE0))
RUN_TARGET=$((TARGET - TARGET0))
R_ONLINE=$(field "$REPORT_JSON" onlineRequests)
R_REPLAYED=$(field "$REPORT_JSON" replayedRequests)
R_LOSS=$(field "$REPORT_JSON" lossRatio)
agree() { [[ $1 == "$2" ]] && echo "agree" || echo "DISAGREE"; }
ONLINE_RATE=$(awk -v n="$LOAD_ONLINE" -v s="$LOAD_S" 'BEGIN { printf "%.0f", n / s }')
TARGET_RATE=$(awk -v n="$((TARGET - TARGET0))" -v s="$LOAD_S" -v d="$DRAIN_S" 'BEGIN { printf "%.0f", n / (s + d) }')

echo
echo "================ ReplayCluster demo report (lab $LAB_ID) ================"
printf '%-22s %s\n' "load" "$LOAD, $CONNECTIONS connection(s) per online host, $ONLINES online host(s), GET $URL_PATH, offloads $OFFLOADS"
printf '%-22s %s\n' "online requests" "$ONLINE (access logs of ${ONLINES} online nginx; $LOAD_ONLINE during the load, ~$ONLINE_RATE req/s, peak $PEAK_ONLINE_RATE req/s)"
printf '%-22s %s\n' "target requests" "$TARGET (access log of the target nginx; ~$TARGET_RATE req/s over load + drain, peak $PEAK_TARGET_RATE req/s)"
printf '%-22s %s\n' "loss ratio" "$LOSS ((online x $MULTIPLIER - target) / (online x $MULTIPLIER); threshold $THRESHOLD)"
echo "the run (from run start to run stop): the coordinator's report beside the access logs"
printf '  %-20s %12s %12s\n' "" "access logs" "coordinator"
printf '  %-20s %12s %12s  %s\n' "run online" "$RUN_ONLINE" "$R_ONLINE" "$(agree "$RUN_ONLINE" "$R_ONLINE")"
printf '  %-20s %12s %12s  %s\n' "run replayed" "$RUN_TARGET" "$R_REPLAYED" "$(agree "$RUN_TARGET" "$R_REPLAYED")"
printf '  %-20s %12s %12s\n' "run loss ratio" "$(ratio "$RUN_ONLINE" "$RUN_TARGET")" "$R_LOSS"
echo "coordinator's run report (replaycluster-coordinator run stop):"
sed 's/^/  /' "$RUN_DIR/run-report.txt"
for f in "$RUN_DIR"/wrk-*.txt; do
  [[ -f $f ]] || continue
  printf '%-22s %s\n' "$(basename "$f" .txt)" \
    "$(grep -E 'requests in|Requests/sec|Non-2xx|Socket errors' "$f" | sed 's/^ *//' | paste -sd ';' | sed 's/;/; /g')"
done
printf '%-22s %s\n' "durations" "build ${BUILD_S} s, lab up ${LAB_S} s, join ${JOIN_S} s, load ${LOAD_S} s, drain ${DRAIN_S} s, total $(seconds_since "$T0") s"
printf '%-22s %s\n' "logs" "$RUN_DIR"
[[ -z $NODE_EXITS ]] || printf '%-22s %s\n' "node exit codes" "$NODE_EXITS"

RESULT=1
REPORTED=1
if ((ONLINE == 0)); then
  echo "RESULT: FAIL: the online host served no request"
elif [[ $RUN_ONLINE != "$R_ONLINE" || $RUN_TARGET != "$R_REPLAYED" ]]; then
  echo "RESULT: FAIL: the coordinator's run report ($R_ONLINE online, $R_REPLAYED replayed) disagrees with the access logs ($RUN_ONLINE, $RUN_TARGET)"
elif [[ " $NODE_EXITS" =~ =[^0\ ] ]]; then
  echo "RESULT: FAIL: a node did not exit cleanly ($NODE_EXITS)"
elif awk -v l="$LOSS" -v t="$THRESHOLD" 'BEGIN { if (l < 0) l = -l; exit !(l <= t) }'; then
  echo "RESULT: PASS: loss ratio $LOSS within $THRESHOLD"
  RESULT=0
else
  echo "RESULT: FAIL: loss ratio $LOSS exceeds $THRESHOLD"
fi
exit "$RESULT"
