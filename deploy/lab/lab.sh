#!/usr/bin/env bash
# lab.sh - build, inspect and tear down a ReplayCluster network-namespace lab.
#
# Everything a lab creates lives in network namespaces named rc-<id>-*, linked to
# each other by veth pairs that are created directly inside those namespaces (no
# device ever exists in the root namespace, nothing is linked to eth0, and no
# namespace has a default route). Run `lab.sh --help` for the manual.
set -euo pipefail
umask 022

readonly PROG=${0##*/}
# All lab subnets live in 10.251.0.0/16; FAKE_RANGE must stay outside it.
readonly NET_PREFIX=10.251
readonly NET_RESERVED=10.251.0.0/16
readonly MAX_ONLINES=9
readonly DEFAULT_FAKE_RANGE=10.200.0.0/16
# With --ipv6 every link also gets a /64 of this unique-local /48, numbered like its IPv4 subnet (A_k
# fd00:251:1K::/64, B_k fd00:251:2K::/64, C fd00:251:3::/64, same host numbers), and the fake clients this /48.
readonly NET6_PREFIX=fd00:251
readonly DEFAULT_FAKE_RANGE6=fd00:251:f000::/48
readonly DEFAULT_STATE_DIR=/run/replaycluster-lab
# nginx-internal upstream that answers POST /upload, on lo of each nginx namespace.
readonly UPLOAD_SINK_PORT=8099
# PostgreSQL's own port on every host that runs a lab cluster (--postgres).
readonly PG_PORT=5432

usage() {
  cat <<'EOF'
NAME
    lab.sh - a disposable tcpcopy-style network lab in Linux network namespaces

SYNOPSIS
    lab.sh up [--id ID] [--offloads on|off] [--sink assistant|ifb] [--ipv6]
              [--fake-range CIDR] [--onlines N] [--target-port PORT]
              [--postgres] [--json] [--state-dir DIR]
    lab.sh postgres --id ID [--state-dir DIR]
    lab.sh certs --id ID [--with COMMAND] [--state-dir DIR]
    lab.sh down --id ID [--state-dir DIR]
    lab.sh exec --id ID ROLE -- COMMAND [ARG...]
    lab.sh status --id ID [--state-dir DIR]
    lab.sh demo-traffic --id ID [--state-dir DIR]
    lab.sh guard --id ID --pid PID [--state-dir DIR]
    lab.sh --help

DESCRIPTION
    up builds the topology below, starts one nginx on every online host and one
    on the target, and prints the lab's facts as KEY=VALUE lines on stdout (the
    same lines are written to STATE_DIR/ID/lab.env; progress goes to stderr).
    With --json it prints them as one JSON object instead (hosts as objects, the
    online hosts as an array, every KEY=VALUE again under "facts"); that object
    is written to STATE_DIR/ID/lab.json either way.
    If up fails at any step it removes everything it created.

        client --A-- online --B-- target --C-- assistant
                                     \-- sink0 (ifb, with --sink ifb)

      A  10.251.1K.0/24  client .2, online K .1   (K = 1..N, one per online)
      B  10.251.2K.0/24  online K .1, target .2
      C  10.251.3.0/24   target .1, assistant .2

    client     Only connected routes to its A subnets. Talks to online nginx.
    online     ip_forward=0: clients can never reach the target through it.
               Routes to C and to every other B subnet via the target (cluster
               traffic to the assistant, the coordinator and other onlines).
               Capture nodes listen on ONLINE_IF (faces the clients).
    target     Routes FAKE_RANGE and every A subnet to the reply sink, so its
               replies never return to a client. rp_filter=0 (all, default and
               per interface) so spoofed sources are accepted. ip_forward=1 only
               so that B <-> C control traffic (capture node on an online host,
               intercept node on the assistant) can cross it.
    assistant  ip_forward=0: replies routed to it are captured on ASSISTANT_IF
               (SINK_IF) and then dropped, because it does not forward them.
               Route to the B subnets via the target.

    IPv6 is disabled in every lab namespace so that captures hold only the IPv4
    traffic under test (no router solicitations or MLD reports), unless --ipv6:
    then every link is dual stack (IPv6 /64s of fd00:251::/32 numbered like the
    IPv4 subnets: A_k fd00:251:1K::/64, B_k fd00:251:2K::/64, C fd00:251:3::/64),
    the target routes FAKE_RANGE6 (fd00:251:f000::/48) and the A_k /64s to the
    sink like their IPv4 counterparts, both nginx listen on the IPv6 addresses
    too, and the facts gain *_IP6 and FAKE_RANGE6. Router advertisements,
    solicitations and duplicate address detection are off: addresses are usable
    at once and the links carry no IPv6 chatter but neighbour discovery and MLD.

COMMANDS
    up            Build a lab and print its facts.
    postgres      Add PostgreSQL (see POSTGRESQL) to a running lab built without
                  --postgres; prints the new facts and appends them to lab.env.
    certs         Create the lab's cluster CA and node certificates (mutual TLS
                  between the nodes, on by default) in STATE_DIR/ID/tls, once per
                  lab: `COMMAND certs init`, then `certs issue` for coordinator,
                  intercept and capture (capture2..captureN with --onlines N),
                  and for each NAME a HOCON file NAME.hocon with its three paths,
                  for the node's --config. Prints TLS_DIR and TLS_CONFIG_NAME
                  facts (NAME upper-cased) and appends them to lab.env; a second
                  run prints the same facts. COMMAND runs replaycluster-coordinator
                  (default `replaycluster-coordinator`), e.g.
                  --with "dotnet src/Coordinator/bin/Release/net10.0/replaycluster-coordinator.dll".
    down          Kill every process inside the lab's namespaces (TERM, then
                  KILL after 3 s), delete the namespaces (their veths go with
                  them) and the state directory. Idempotent.
    exec          Run COMMAND inside ROLE's namespace: client, online,
                  online2..onlineN, target or assistant.
    status        Print links, addresses, routes and nginx PIDs.
    demo-traffic  One curl and `wrk -t1 -c4 -d2s` from the client to the online
                  nginx, then print the online access-log line count.
    guard         Wait (tail --pid: checked every second) until process PID is gone, then
                  run down for the lab. Output goes to /dev/null. Start it
                  detached (`setsid lab.sh guard ... &`) next to the process that
                  owns the lab, so a crash, even SIGKILL, leaves nothing behind;
                  kill its process group (setsid made the guard its leader, so
                  its tail goes too) when the lab is taken down normally.

OPTIONS
    --id ID             Lab id, 1-8 of [a-z0-9]. Default: 6 random hex digits.
    --offloads on|off   off (default): `ethtool -K tso gso gro tx off` on every
                        veth, so captured frames look like a real wire (segments
                        of at most one MSS, correct TCP checksums). on: keep the
                        veth defaults (~64 KB super-segments, unfilled checksums)
                        to exercise a replayer's segmentation and checksum code.
    --sink assistant|ifb
                        Where the target's replies go. assistant (default): to
                        the assistant namespace (SINK_NS/SINK_IF). ifb: into an
                        ifb device sink0 inside the target namespace, where
                        libpcap sees them before the driver drops them.
    --fake-range CIDR   Client range the replayer spoofs (default 10.200.0.0/16).
                        Must be a network address outside 10.251.0.0/16.
    --onlines N         Number of online hosts, 1-9 (default 1).
    --target-port PORT  Port of the target nginx (default 80).
    --ipv6              Dual stack: IPv6 on every link as well (see DESCRIPTION).
    --json              up: print the facts as JSON (see DESCRIPTION).
    --postgres          Also run one PostgreSQL cluster on every online host and
                        on the target (see POSTGRESQL).
    --pid PID           guard: the process whose end tears the lab down.
    --with COMMAND      certs: how to run replaycluster-coordinator (split on
                        spaces).
    --state-dir DIR     Where lab state lives (default /run/replaycluster-lab,
                        or $LAB_STATE_DIR).

NGINX
    One worker, keepalive_requests 10000, daemon off under a recorded PID. The
    online nginx listens on ONLINE_IP (clients) and ONLINE_UPLINK_IP (reachable
    from the assistant through the target: a check of the control path); the
    target nginx listens on every TARGET*_IP.
    Serves / (small page), /1k, /64k, /1m (random bytes made at up-time, the
    same files on every host) and POST /upload (body read in full via a proxy to
    127.0.0.1:8099 in the same namespace, then discarded; answers 200 "ok").
    Access log fields: msec remote_addr remote_port "request" status
    body_bytes_sent request_length request_time content_length connection
    connection_requests.

POSTGRESQL
    Opt-in (up --postgres, or the postgres command): the newest server under
    /usr/lib/postgresql/*/bin (Debian package postgresql, which ships pgbench).
    One cluster per host, all copied from one initdb (--locale=C, UTF8), so the
    online hosts and the target start identical. Each runs as user postgres from
    STATE_DIR/pg-ROLE (owned by postgres, 0700), listens on port 5432 of the
    host's address (ONLINE_IP, or every TARGET*_IP) and nowhere else, TCP only
    (no Unix socket: the namespaces share one file system), database and user
    postgres, `trust` for 127.0.0.1, 10.251.0.0/16 and the fake range; fsync,
    synchronous_commit and full_page_writes off (disposable data: with them on,
    pgbench measured the shared disk, ~11 ms per commit). Server
    log: STATE_DIR/pg-ROLE.log. Facts: ROLE_PG_PORT, ROLE_PG_PID (the
    postmaster), ROLE_PG_DATA, ROLE_PG_LOG for ONLINE, ONLINE2.., TARGET, and
    PG_BIN (the directory with psql and pgbench). down stops every cluster with
    a fast shutdown (SIGINT to its postmaster PID) before it kills the rest.
    user postgres must be able to traverse STATE_DIR's parents: a mktemp -d
    directory (0700) needs chmod 755, as for nginx's workers.

ENVIRONMENT
    LAB_STATE_DIR       Default for --state-dir.
    LAB_INJECT_FAILURE  Make up fail after a step (namespaces, links, routes,
                        nginx, postgres). Used by tests of the cleanup path.

EXIT STATUS
    0 on success, 1 on error (message on stderr), 2 on a usage error.

EXAMPLES
    sudo deploy/lab/lab.sh up --id demo1
    sudo deploy/lab/lab.sh exec --id demo1 client -- curl -s http://10.251.11.1/
    sudo deploy/lab/lab.sh demo-traffic --id demo1
    sudo deploy/lab/lab.sh up --id pg1 --postgres
    sudo deploy/lab/lab.sh exec --id pg1 client -- pgbench -n -c 4 -T 10 -h 10.251.11.1 -U postgres postgres
    sudo deploy/lab/lab.sh down --id demo1
EOF
}

die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$*" >&2; exit 2; }
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# ---------------------------------------------------------------- requirements

# require_tools TOOL... : each TOOL must be on PATH; names the Debian package.
require_tools() {
  local tool missing=()
  declare -A pkg=([ip]=iproute2 [ss]=iproute2 [nginx]=nginx [wrk]=wrk
    [ethtool]=ethtool [curl]=curl [setsid]=util-linux [setpriv]=util-linux)
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool (apt-get install ${pkg[$tool]:-$tool})")
  done
  if ((${#missing[@]} > 0)); then
    local joined
    joined=$(printf '%s; ' "${missing[@]}")
    die "missing tools: ${joined%; }"
  fi
}

require_root() {
  ((EUID == 0)) || die "must run as root (network namespaces need CAP_SYS_ADMIN); use sudo or tests/run.sh"
}

# ---------------------------------------------------------------- addresses

ip_to_int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# valid_cidr CIDR : a dotted quad with a prefix 1-32 and no host bits set.
valid_cidr() {
  local cidr=$1 addr len o
  [[ $cidr =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$ ]] || return 1
  addr=${cidr%/*} len=${cidr#*/}
  ((len >= 1 && len <= 32)) || return 1
  for o in ${addr//./ }; do ((10#$o <= 255)) || return 1; done
  local n mask
  n=$(ip_to_int "$addr")
  mask=$(((0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF))
  (((n & mask) == n))
}

# cidr_overlap A B : true when the two networks share an address.
cidr_overlap() {
  local a=$1 b=$2 an bn al bl
  an=$(ip_to_int "${a%/*}") al=${a#*/}
  bn=$(ip_to_int "${b%/*}") bl=${b#*/}
  local a_end=$((an + (1 << (32 - al)) - 1)) b_end=$((bn + (1 << (32 - bl)) - 1))
  ((an <= b_end && bn <= a_end))
}

# ---------------------------------------------------------------- state

STATE_ROOT=${LAB_STATE_DIR:-$DEFAULT_STATE_DIR}
LAB_ID=""

valid_id() { [[ $1 =~ ^[a-z0-9]{1,8}$ ]]; }

lab_namespaces() {
  # `ip netns list` prints "name (id: N)" for namespaces with an id.
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^rc-$1-" || true
}

# role_ns ROLE : the namespace name of ROLE in the current lab.
role_ns() {
  case $1 in
    client) echo "rc-$LAB_ID-client" ;;
    online | online1) echo "rc-$LAB_ID-online" ;;
    online[2-9]) echo "rc-$LAB_ID-$1" ;;
    target) echo "rc-$LAB_ID-target" ;;
    assistant | assist) echo "rc-$LAB_ID-assist" ;;
    *) usage_error "unknown role '$1' (client, online, online2..online9, target, assistant)" ;;
  esac
}

# nsx NS COMMAND... : COMMAND inside NS. ip commands use ip's own -n NS instead (a setns in the same process):
# `ip netns exec` is one more program and a mount namespace with /sys remounted per call. With -n, one sysctl
# per namespace and the JSON below built without subshells, an `up` costs 0.67-0.70 s of CPU instead of
# 1.25-1.34 s (3 alternating runs each, 2026-12-03); the lab tests run ~45 of them.
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# load_env : read STATE_ROOT/ID/lab.env into LAB_ENV_* style variables via source.
load_env() {
  local env=$STATE_ROOT/$LAB_ID/lab.env
  [[ -f $env ]] || die "no lab '$LAB_ID' (missing $env)"
  # shellcheck disable=SC1090 # generated by this script: KEY=VALUE, values quoted
  source "$env"
}

# ---------------------------------------------------------------- down

# kill_ns_processes NS : TERM every process inside NS, then KILL what is left.
kill_ns_processes() {
  local ns=$1 pids pid i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n $pids ]] || return 0
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] || return 0
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 20; i++)); do
    [[ -n $(ip netns pids "$ns" 2>/dev/null || true) ]] || return 0
    sleep 0.1
  done
  log "warning: processes still in $ns: $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
}

do_down() {
  local id=$1 ns
  stop_postgres "$id"
  for ns in $(lab_namespaces "$id"); do
    kill_ns_processes "$ns"
    ip netns del "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
  done
  # valid_id was checked by the caller, so this path is always STATE_ROOT/<id>.
  rm -rf -- "${STATE_ROOT:?}/$id"
}

cmd_down() {
  [[ -n $LAB_ID ]] || usage_error "down needs --id ID"
  require_root
  require_tools ip
  do_down "$LAB_ID"
  log "lab $LAB_ID is down"
}

# ---------------------------------------------------------------- up

FACTS=()
fact() { FACTS+=("$1=$2"); }

inject_failure() {
  if [[ ${LAB_INJECT_FAILURE:-} == "$1" ]]; then
    die "injected failure after step '$1' (LAB_INJECT_FAILURE)"
  fi
}

# veth NS_A IF_A NS_B IF_B : a veth pair created directly in its two namespaces.
veth() {
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

set_offloads() {
  local ns=$1 dev=$2
  [[ $OFFLOADS == off ]] || return 0
  # tx off also turns off checksum offload: the kernel fills TCP checksums, so
  # captures carry valid ones (tso/gso depend on it and go off with it).
  nsx "$ns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 ||
    die "ethtool -K $dev failed in $ns"
}

base_namespace() {
  local ns=$1 fwd=$2
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  if ((IPV6 == 1)); then
    # Set before any interface exists: "default" is what new interfaces start with.
    nsx "$ns" sysctl -qw net.ipv4.ip_forward="$fwd" net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
      net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
      net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  else
    nsx "$ns" sysctl -qw net.ipv4.ip_forward="$fwd" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
}

# addr6 NS DEV ADDRESS/64 : an IPv6 address, usable at once (no duplicate address detection), with --ipv6 only.
addr6() {
  ((IPV6 == 1)) || return 0
  ip -n "$1" -6 addr add "$3" dev "$2" nodad
}

write_www() {
  local www=$1
  mkdir -p "$www"
  printf '<!doctype html>\n<title>replaycluster lab</title>\n<p>replaycluster lab %s</p>\n' "$LAB_ID" >"$www/index.html"
  head -c 1024 /dev/urandom >"$www/1k"
  head -c 65536 /dev/urandom >"$www/64k"
  head -c 1048576 /dev/urandom >"$www/1m"
}

# start_nginx ROLE NS PORT IP... : generated config, nginx -t, start, wait for listen.
start_nginx() {
  local role=$1 ns=$2 port=$3
  shift 3
  local dir=$LAB_DIR/nginx-$role ip listen=""
  mkdir -p "$dir"/logs "$dir"/tmp/{body,proxy,fastcgi,uwsgi,scgi}
  for ip in "$@"; do
    [[ $ip != *:* ]] || ip="[$ip]" # an IPv6 address
    listen+="        listen $ip:$port reuseport;"$'\n'
  done
  cat >"$dir/nginx.conf" <<EOF
# Generated by lab.sh for lab $LAB_ID ($role). Run with: nginx -p $dir -c $dir/nginx.conf
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;
events { worker_connections 4096; }
http {
    default_type application/octet-stream;
    types { text/html html; }
    log_format replay '\$msec \$remote_addr \$remote_port "\$request" \$status \$body_bytes_sent '
                      '\$request_length \$request_time \$content_length \$connection \$connection_requests';
    access_log $dir/logs/access.log replay;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 10000;
    keepalive_timeout 65s;
    sendfile on;
    server {
$listen        root $LAB_DIR/www;
        location = / { index index.html; }
        location = /upload {
            # Proxied to the local server below so that nginx reads the whole body
            # (a plain "return" discards it unread and \$request_length misses it).
            # \$request_length and \$content_length in the access log record its size.
            client_max_body_size 64m;
            proxy_pass http://127.0.0.1:$UPLOAD_SINK_PORT;
        }
    }
    server {
        listen 127.0.0.1:$UPLOAD_SINK_PORT;
        access_log off;
        location / { return 200 "ok\n"; }
    }
}
EOF
  nsx "$ns" nginx -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" ||
    die "nginx -t failed for $role (config $dir/nginx.conf)"
  # setsid detaches nginx from our terminal's signals. Neither setsid (we are not a
  # process-group leader here) nor `ip netns exec` forks, so $! is nginx's own PID.
  setsid ip netns exec "$ns" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
    </dev/null >"$dir/logs/stdout.log" 2>&1 &
  local pid=$! i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || die "nginx for $role exited; see $dir/logs/error.log"
    if [[ -n $(nsx "$ns" ss -Htln "sport = :$port") ]]; then break; fi
    sleep 0.1
  done
  ((i < 50)) || die "nginx for $role did not listen on port $port within 5 s"
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == nginx ]] || die "PID $pid of $role is not nginx"
  local key=${role^^}
  fact "${key}_NGINX_PID" "$pid"
  fact "${key}_ACCESS_LOG" "$dir/logs/access.log"
  fact "${key}_ERROR_LOG" "$dir/logs/error.log"
  fact "${key}_NGINX_CONF" "$dir/nginx.conf"
}

# ---------------------------------------------------------------- postgres

as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

# pg_bindir : the newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin).
pg_bindir() {
  local dirs=(/usr/lib/postgresql/*/bin) tool
  [[ -d ${dirs[0]} ]] || return 1
  local dir
  dir=$(printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1)
  for tool in initdb postgres pg_isready psql pgbench; do
    [[ -x $dir/$tool ]] || return 1
  done
  echo "$dir"
}

# stop_postgres ID : fast shutdown (SIGINT) of every cluster of lab ID, by the PID in its postmaster.pid,
# so it ends its backends and frees its shared memory itself; kill_ns_processes then finds none of it left.
stop_postgres() {
  local id=$1 pidfile pid ns i pids=()
  for pidfile in "$STATE_ROOT/$id"/pg-*/postmaster.pid; do
    [[ -f $pidfile ]] || continue
    pid=$(head -n 1 "$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || continue
    # Only a postgres inside this lab's namespaces: a stale file must never make us signal another process.
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || continue
    ns=$(ip netns identify "$pid" 2>/dev/null || true)
    [[ $ns == rc-$id-* ]] || continue
    kill -INT "$pid" 2>/dev/null && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
}

# start_postgres ROLE NS IP... : configure the cluster in LAB_DIR/pg-ROLE for IP..., start it, wait until it accepts.
start_postgres() {
  local role=$1 ns=$2
  shift 2
  local dir=$LAB_DIR/pg-$role log=$LAB_DIR/pg-$role.log listen
  listen=$(IFS=,; echo "$*")
  cat >>"$dir/postgresql.conf" <<EOF

# lab.sh, lab $LAB_ID ($role)
listen_addresses = '$listen'
port = $PG_PORT
# TCP only: the namespaces share one file system, so clusters on the same port would share a socket path.
unix_socket_directories = ''
# A disposable lab: durability buys nothing, and with fsync each commit waited ~11 ms for the shared disk
# (pgbench -c 4: 360 tps), which measures the disk rather than the network path under test.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  # As with nginx: setsid, ip netns exec and setpriv all exec, so $! is the postmaster's own PID.
  setsid ip netns exec "$ns" setpriv --reuid=postgres --regid=postgres --init-groups \
    "$PG_BIN/postgres" -D "$dir" </dev/null >"$log" 2>&1 &
  local pid=$! i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || die "postgres for $role exited; see $log"
    if nsx "$ns" "$PG_BIN/pg_isready" -q -h "$1" -p "$PG_PORT"; then break; fi
    sleep 0.1
  done
  ((i < 100)) || die "postgres for $role did not accept connections on $1:$PG_PORT within 10 s; see $log"
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || die "PID $pid of $role is not postgres"
  local key=${role^^}
  fact "${key}_PG_PORT" "$PG_PORT"
  fact "${key}_PG_PID" "$pid"
  fact "${key}_PG_DATA" "$dir"
  fact "${key}_PG_LOG" "$log"
}

# add_postgres : one cluster per online host and one on the target, all copies of one initdb.
add_postgres() {
  require_tools setpriv
  PG_BIN=$(pg_bindir) || die "PostgreSQL is not installed (apt-get install postgresql; it ships pgbench)"
  id postgres >/dev/null 2>&1 || die "no user postgres (apt-get install postgresql creates it)"
  as_postgres test -x "$LAB_DIR" ||
    die "user postgres cannot reach $LAB_DIR: a parent directory is not world-traversable (chmod 755 it; mktemp -d makes 0700)"
  local k sfx first=$LAB_DIR/pg-online role
  install -d -o postgres -g postgres -m 700 "$first"
  as_postgres "$PG_BIN/initdb" -D "$first" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >"$LAB_DIR/pg-initdb.log" 2>&1 ||
    die "initdb failed; see $LAB_DIR/pg-initdb.log"
  cat >"$first/pg_hba.conf" <<EOF
# lab.sh, lab $LAB_ID: trust for the lab's own subnets and the fake client range (replayed sessions).
host all all 127.0.0.1/32 trust
host all all $NET_RESERVED trust
host all all $FAKE_RANGE trust
EOF
  for ((k = 2; k <= ONLINES; k++)); do cp -a "$first" "$LAB_DIR/pg-online$k"; done
  cp -a "$first" "$LAB_DIR/pg-target"
  fact PG_BIN "$PG_BIN"
  for ((k = 1; k <= ONLINES; k++)); do
    sfx=$([[ $k == 1 ]] || echo "$k")
    role=online$sfx
    start_postgres "$role" "$(role_ns "online$k")" "$NET_PREFIX.$((10 + k)).1"
  done
  local target_ips=()
  for ((k = 1; k <= ONLINES; k++)); do target_ips+=("$NET_PREFIX.$((20 + k)).2"); done
  start_postgres target "rc-$LAB_ID-target" "${target_ips[@]}"
}

UP_DONE=0
on_up_exit() {
  local rc=$?
  if ((UP_DONE == 0)); then
    log "up failed (exit $rc); removing the partial lab $LAB_ID"
    do_down "$LAB_ID" || true
  fi
  exit "$rc"
}

cmd_up() {
  require_root
  require_tools ip ss nginx wrk ethtool setsid
  [[ -n $LAB_ID ]] || LAB_ID=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
  valid_id "$LAB_ID" || usage_error "invalid --id '$LAB_ID' (1-8 of [a-z0-9])"
  [[ $OFFLOADS == on || $OFFLOADS == off ]] || usage_error "--offloads must be on or off, not '$OFFLOADS'"
  [[ $SINK == assistant || $SINK == ifb ]] || usage_error "--sink must be assistant or ifb, not '$SINK'"
  if ! [[ $ONLINES =~ ^[1-9]$ ]] || ((ONLINES > MAX_ONLINES)); then
    usage_error "--onlines must be 1-$MAX_ONLINES, not '$ONLINES'"
  fi
  if ! [[ $TARGET_PORT =~ ^[0-9]{1,5}$ ]] || ((TARGET_PORT < 1 || TARGET_PORT > 65535)); then
    usage_error "--target-port must be 1-65535, not '$TARGET_PORT'"
  fi
  ((TARGET_PORT != UPLOAD_SINK_PORT)) || usage_error "--target-port $UPLOAD_SINK_PORT is nginx's internal upload sink"
  valid_cidr "$FAKE_RANGE" ||
    usage_error "--fake-range '$FAKE_RANGE' is not a network address in CIDR form (e.g. 10.200.0.0/16)"
  if cidr_overlap "$FAKE_RANGE" "$NET_RESERVED"; then
    usage_error "--fake-range $FAKE_RANGE overlaps the lab subnets $NET_RESERVED"
  fi
  if [[ -n $(lab_namespaces "$LAB_ID") || -e $STATE_ROOT/$LAB_ID ]]; then
    die "lab '$LAB_ID' already exists; run: $PROG down --id $LAB_ID"
  fi

  # From here on, any failure (or Ctrl-C) removes what was created.
  trap on_up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  LAB_DIR=$STATE_ROOT/$LAB_ID
  mkdir -p "$LAB_DIR"
  local client=rc-$LAB_ID-client target=rc-$LAB_ID-target assist=rc-$LAB_ID-assist
  local k sfx online
  log "building lab $LAB_ID (onlines=$ONLINES sink=$SINK offloads=$OFFLOADS fake-range=$FAKE_RANGE$( ((POSTGRES == 0)) || echo ' postgres')$( ((IPV6 == 0)) || echo ' ipv6'))"

  base_namespace "$client" 0
  for ((k = 1; k <= ONLINES; k++)); do
    base_namespace "$(role_ns "online$k")" 0
  done
  # Target forwards only so that B <-> C control traffic can cross it; replies to
  # the clients and FAKE_RANGE are routed to the sink, never back to an online host.
  base_namespace "$target" 1
  # The assistant does not forward: it is where replies end.
  base_namespace "$assist" 0
  inject_failure namespaces

  fact LAB_ID "$LAB_ID"
  fact STATE_DIR "$LAB_DIR"
  fact ONLINES "$ONLINES"
  fact SINK "$SINK"
  fact OFFLOADS "$OFFLOADS"
  fact FAKE_RANGE "$FAKE_RANGE"
  fact NS_CLIENT "$client"
  fact NS_TARGET "$target"
  fact NS_ASSISTANT "$assist"

  # target <-> assistant (subnet C)
  veth "$target" to-assist "$assist" to-target
  ip -n "$target" addr add "$NET_PREFIX.3.1/24" dev to-assist
  ip -n "$assist" addr add "$NET_PREFIX.3.2/24" dev to-target
  addr6 "$target" to-assist "$NET6_PREFIX:3::1/64"
  addr6 "$assist" to-target "$NET6_PREFIX:3::2/64"
  set_offloads "$target" to-assist
  set_offloads "$assist" to-target

  for ((k = 1; k <= ONLINES; k++)); do
    sfx=$([[ $k == 1 ]] || echo "$k")
    online=$(role_ns "online$k")
    local cif=to-online$sfx a=$NET_PREFIX.$((10 + k)) b=$NET_PREFIX.$((20 + k))
    local a6=$NET6_PREFIX:$((10 + k)): b6=$NET6_PREFIX:$((20 + k)):
    # client <-> online k (subnet A_k)
    veth "$client" "$cif" "$online" to-client
    ip -n "$client" addr add "$a.2/24" dev "$cif"
    ip -n "$online" addr add "$a.1/24" dev to-client
    # online k <-> target (subnet B_k)
    veth "$online" to-target "$target" "to-online$sfx"
    ip -n "$online" addr add "$b.1/24" dev to-target
    ip -n "$target" addr add "$b.2/24" dev "to-online$sfx"
    addr6 "$client" "$cif" "$a6:2/64"
    addr6 "$online" to-client "$a6:1/64"
    addr6 "$online" to-target "$b6:1/64"
    addr6 "$target" "to-online$sfx" "$b6:2/64"
    set_offloads "$client" "$cif"
    set_offloads "$online" to-client
    set_offloads "$online" to-target
    set_offloads "$target" "to-online$sfx"

    fact "NS_ONLINE$sfx" "$online"
    fact "CLIENT${sfx}_IP" "$a.2"
    fact "CLIENT${sfx}_IF" "$cif"
    fact "CLIENT${sfx}_SUBNET" "$a.0/24"
    fact "ONLINE${sfx}_IP" "$a.1"
    fact "ONLINE${sfx}_IF" to-client
    fact "ONLINE${sfx}_UPLINK_IP" "$b.1"
    fact "ONLINE${sfx}_UPLINK_IF" to-target
    fact "TARGET${sfx}_IP" "$b.2"
    fact "TARGET${sfx}_IF" "to-online$sfx"
    if ((IPV6 == 1)); then
      fact "CLIENT${sfx}_IP6" "$a6:2"
      fact "CLIENT${sfx}_SUBNET6" "$a6:/64"
      fact "ONLINE${sfx}_IP6" "$a6:1"
      fact "ONLINE${sfx}_UPLINK_IP6" "$b6:1"
      fact "TARGET${sfx}_IP6" "$b6:2"
    fi
  done
  fact TARGET_SINK_IP "$NET_PREFIX.3.1"
  fact TARGET_SINK_IF to-assist
  fact ASSISTANT_IP "$NET_PREFIX.3.2"
  fact ASSISTANT_IF to-target
  fact IPV6 "$IPV6"
  if ((IPV6 == 1)); then
    fact FAKE_RANGE6 "$DEFAULT_FAKE_RANGE6"
    fact TARGET_SINK_IP6 "$NET6_PREFIX:3::1"
    fact ASSISTANT_IP6 "$NET6_PREFIX:3::2"
  fi
  inject_failure links

  # rp_filter=0 everywhere on the target: replayed packets carry spoofed sources
  # that strict reverse-path filtering would drop (TcpExtIPReversePathFilter).
  local dev
  local rp=() _
  while read -r dev _; do rp+=("net.ipv4.conf.${dev%%@*}.rp_filter=0"); done < <(ip -n "$target" -br link)
  nsx "$target" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.all.send_redirects=0 "${rp[@]}"

  # Reply sink: FAKE_RANGE and the real client subnets leave the target toward the
  # sink, so the target's replies never reach a client.
  local sink_via=(via "$NET_PREFIX.3.2" dev to-assist) sink_ns=$assist sink_if=to-target
  if [[ $SINK == ifb ]]; then
    ip -n "$target" link add sink0 type ifb
    ip -n "$target" link set sink0 up
    sink_via=(dev sink0) sink_ns=$target sink_if=sink0
  fi
  ip -n "$target" route add "$FAKE_RANGE" "${sink_via[@]}"
  for ((k = 1; k <= ONLINES; k++)); do
    ip -n "$target" route add "$NET_PREFIX.$((10 + k)).0/24" "${sink_via[@]}"
  done
  if ((IPV6 == 1)); then
    # The same for IPv6: the fake /48 and the clients' /64s leave toward the sink. IPv6 has no rp_filter to turn
    # off; the target accepts spoofed sources as they come.
    local sink_via6=(via "$NET6_PREFIX:3::2" dev to-assist)
    [[ $SINK != ifb ]] || sink_via6=(dev sink0)
    ip -n "$target" -6 route add "$DEFAULT_FAKE_RANGE6" "${sink_via6[@]}"
    for ((k = 1; k <= ONLINES; k++)); do
      ip -n "$target" -6 route add "$NET6_PREFIX:$((10 + k))::/64" "${sink_via6[@]}"
    done
  fi
  # Control traffic: online k -> C and every other B_j via the target (capture nodes on
  # different online hosts gossip with each other and reach a coordinator on TARGET_IP);
  # assistant -> every B_k via the target.
  local j
  for ((k = 1; k <= ONLINES; k++)); do
    online=$(role_ns "online$k")
    ip -n "$online" route add "$NET_PREFIX.3.0/24" via "$NET_PREFIX.$((20 + k)).2"
    for ((j = 1; j <= ONLINES; j++)); do
      ((j == k)) || ip -n "$online" route add "$NET_PREFIX.$((20 + j)).0/24" via "$NET_PREFIX.$((20 + k)).2"
    done
    ip -n "$assist" route add "$NET_PREFIX.$((20 + k)).0/24" via "$NET_PREFIX.3.1"
  done
  fact SINK_NS "$sink_ns"
  fact SINK_IF "$sink_if"
  inject_failure routes

  write_www "$LAB_DIR/www"
  fact WWW_DIR "$LAB_DIR/www"
  for ((k = 1; k <= ONLINES; k++)); do
    sfx=$([[ $k == 1 ]] || echo "$k")
    # Also on the uplink address, so the cluster side (assistant, via the target)
    # can reach an online host: proves the control path, not used for replay.
    local online_ips=("$NET_PREFIX.$((10 + k)).1" "$NET_PREFIX.$((20 + k)).1")
    ((IPV6 == 0)) || online_ips+=("$NET6_PREFIX:$((10 + k))::1")
    start_nginx "online$sfx" "$(role_ns "online$k")" 80 "${online_ips[@]}"
    fact "ONLINE${sfx}_NGINX_PORT" 80
  done
  local target_ips=()
  for ((k = 1; k <= ONLINES; k++)); do target_ips+=("$NET_PREFIX.$((20 + k)).2"); done
  if ((IPV6 == 1)); then
    for ((k = 1; k <= ONLINES; k++)); do target_ips+=("$NET6_PREFIX:$((20 + k))::2"); done
  fi
  start_nginx target "$target" "$TARGET_PORT" "${target_ips[@]}"
  fact TARGET_NGINX_PORT "$TARGET_PORT"
  inject_failure nginx
  if ((POSTGRES == 1)); then
    add_postgres
    inject_failure postgres
  fi

  local f
  for f in "${FACTS[@]}"; do printf '%s=%q\n' "${f%%=*}" "${f#*=}"; done >"$LAB_DIR/lab.env"
  facts_json >"$LAB_DIR/lab.json"
  UP_DONE=1
  trap - EXIT INT TERM
  if ((JSON == 1)); then cat "$LAB_DIR/lab.json"; else printf '%s\n' "${FACTS[@]}"; fi
  log "lab $LAB_ID is up; tear down with: $PROG down --id $LAB_ID"
}

# The JSON of `up --json` is built in the variable J by the json_* functions, without a subshell per value: a
# command substitution forks bash, and the ~110 of the old printf "$(json_string ...)" form took ~0.3 s of an
# `up`'s ~1.8 s (bash -x timestamps, 2026-12-03, beside a lab run; the quiet totals are at nsx). Facts are paths, names and addresses:
# json_str escapes \ and " only, and refuses control characters rather than emit broken JSON.
J=""
# json_sep : the comma before a value, unless it opens the document, an object or an array, or follows its key.
json_sep() {
  case ${J: -1} in '' | '{' | '[' | ':') ;; *) J+=',' ;; esac
}
json_str() {
  [[ $1 != *[[:cntrl:]]* ]] || die "fact value with a control character: $1"
  local v=${1//\\/\\\\}
  json_sep
  J+="\"${v//\"/\\\"}\""
}
json_key() { json_str "$1"; J+=':'; }
json_raw() { json_sep; J+=$1; }        # a number, null, or an opening { or [
json_member() { json_key "$1"; json_str "$2"; }

# facts_json : the facts of `up` as one JSON object (what --json prints, and STATE_DIR/ID/lab.json): the hosts
# as objects, one per online host in "onlines", and every KEY=VALUE fact again under "facts".
facts_json() {
  local -A F=()
  local f k sfx
  for f in "${FACTS[@]}"; do F[${f%%=*}]=${f#*=}; done
  host() { # KEY_PREFIX JSON_NAME=FACT_SUFFIX... : members of one host's object
    local prefix=$1 pair
    shift
    for pair in "$@"; do json_member "${pair%%=*}" "${F[$prefix${pair#*=}]:-}"; done
  }
  J=""
  json_raw '{'
  json_member id "${F[LAB_ID]}"
  json_member stateDir "${F[STATE_DIR]}"
  json_member sink "${F[SINK]}"
  json_member offloads "${F[OFFLOADS]}"
  json_member fakeRange "${F[FAKE_RANGE]}"
  json_member wwwDir "${F[WWW_DIR]}"
  json_key client && json_raw '{' && json_member namespace "${F[NS_CLIENT]}" && J+='}'
  json_key target && json_raw '{' && json_member namespace "${F[NS_TARGET]}"
  host TARGET_ ip=IP interface=IF sinkIp=SINK_IP sinkInterface=SINK_IF nginxPort=NGINX_PORT nginxPid=NGINX_PID \
    accessLog=ACCESS_LOG errorLog=ERROR_LOG
  J+='}'
  json_key assistant && json_raw '{'
  host "" namespace=NS_ASSISTANT ip=ASSISTANT_IP interface=ASSISTANT_IF
  J+='}'
  json_key replySink && json_raw '{'
  host "" namespace=SINK_NS interface=SINK_IF
  J+='}'
  json_key onlines && json_raw '['
  for ((k = 1; k <= F[ONLINES]; k++)); do
    sfx=""
    ((k == 1)) || sfx=$k
    json_raw '{'
    json_key index && json_raw "$k"
    host "" namespace="NS_ONLINE$sfx" clientIp="CLIENT${sfx}_IP" clientInterface="CLIENT${sfx}_IF" \
      clientSubnet="CLIENT${sfx}_SUBNET" targetIp="TARGET${sfx}_IP" targetInterface="TARGET${sfx}_IF"
    host "ONLINE${sfx}_" ip=IP interface=IF uplinkIp=UPLINK_IP uplinkInterface=UPLINK_IF nginxPort=NGINX_PORT \
      nginxPid=NGINX_PID accessLog=ACCESS_LOG errorLog=ERROR_LOG
    J+='}'
  done
  J+=']'
  json_key ipv6
  if [[ ${F[IPV6]:-0} == 1 ]]; then
    # The dual-stack addresses (--ipv6), in the shape of the IPv4 ones above; null without --ipv6.
    json_raw '{'
    host "" fakeRange=FAKE_RANGE6 targetSinkIp=TARGET_SINK_IP6 assistantIp=ASSISTANT_IP6
    json_key onlines && json_raw '['
    for ((k = 1; k <= F[ONLINES]; k++)); do
      sfx=""
      ((k == 1)) || sfx=$k
      json_raw '{'
      json_key index && json_raw "$k"
      host "" clientSubnet="CLIENT${sfx}_SUBNET6" clientIp="CLIENT${sfx}_IP6" ip="ONLINE${sfx}_IP6" \
        uplinkIp="ONLINE${sfx}_UPLINK_IP6" targetIp="TARGET${sfx}_IP6"
      J+='}'
    done
    J+=']}'
  else
    json_raw null
  fi
  json_key facts && json_raw '{'
  for f in "${FACTS[@]}"; do json_member "${f%%=*}" "${f#*=}"; done
  J+='}}'
  printf '%s\n' "$J"
}

PG_DONE=0
on_postgres_exit() {
  local rc=$?
  if ((PG_DONE == 0)); then
    log "postgres failed (exit $rc); removing the clusters it made in lab $LAB_ID"
    stop_postgres "$LAB_ID" || true
    rm -rf -- "${LAB_DIR:?}"/pg-*
  fi
  exit "$rc"
}

cmd_postgres() {
  [[ -n $LAB_ID ]] || usage_error "postgres needs --id ID"
  require_root
  require_tools ip ss
  load_env
  [[ -z ${TARGET_PG_PID:-} ]] || die "lab $LAB_ID already runs PostgreSQL (TARGET_PG_PID=$TARGET_PG_PID)"
  LAB_DIR=$STATE_ROOT/$LAB_ID
  trap on_postgres_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  FACTS=()
  add_postgres
  inject_failure postgres
  local f
  for f in "${FACTS[@]}"; do printf '%s=%q\n' "${f%%=*}" "${f#*=}"; done >>"$LAB_DIR/lab.env"
  PG_DONE=1
  trap - EXIT INT TERM
  printf '%s\n' "${FACTS[@]}"
  log "PostgreSQL is up in lab $LAB_ID; lab.sh down stops it"
}

# ---------------------------------------------------------------- certs

# tls_names : the node certificates of this lab as NAME:ROLE (ONLINES from lab.env).
tls_names() {
  local k
  printf '%s\n' coordinator:coordinator intercept:intercept capture:capture
  for ((k = 2; k <= ONLINES; k++)); do printf 'capture%s:capture\n' "$k"; done
}

cmd_certs() {
  [[ -n $LAB_ID ]] || usage_error "certs needs --id ID"
  require_root
  load_env
  local dir=$STATE_ROOT/$LAB_ID/tls entry name role upper
  local -a with
  read -r -a with <<<"$CERTS_WITH"
  ((${#with[@]} > 0)) || usage_error "--with needs a command"
  if [[ ! -f $dir/ca.crt ]]; then
    local out
    out=$("${with[@]}" certs init --dir "$dir" 2>&1) || die "certs init failed: $out"
    while IFS= read -r entry; do
      name=${entry%%:*} role=${entry#*:}
      out=$("${with[@]}" certs issue --dir "$dir" --role "$role" --name "$name" 2>&1) ||
        die "certs issue --role $role --name $name failed: $out"
      printf 'replaycluster.cluster.tls {\n  ca-certificate = "%s"\n  certificate = "%s"\n  private-key = "%s"\n}\n' \
        "$dir/ca.crt" "$dir/$name.crt" "$dir/$name.key" >"$dir/$name.hocon"
    done < <(tls_names)
    log "cluster CA and node certificates of lab $LAB_ID are in $dir"
  fi
  fact TLS_DIR "$dir"
  while IFS= read -r entry; do
    name=${entry%%:*}
    upper=$(tr '[:lower:]' '[:upper:]' <<<"$name")
    fact "TLS_CONFIG_$upper" "$dir/$name.hocon"
  done < <(tls_names)
  local f env=$STATE_ROOT/$LAB_ID/lab.env
  grep -q '^TLS_DIR=' "$env" || for f in "${FACTS[@]}"; do printf '%s=%q\n' "${f%%=*}" "${f#*=}"; done >>"$env"
  printf '%s\n' "${FACTS[@]}"
}

# ---------------------------------------------------------------- exec, status, demo

cmd_exec() {
  [[ -n $LAB_ID ]] || usage_error "exec needs --id ID"
  (($# >= 1)) || usage_error "exec needs a ROLE"
  local role=$1
  shift
  [[ ${1:-} == -- ]] && shift
  (($# >= 1)) || usage_error "exec needs a COMMAND after --"
  require_root
  require_tools ip
  local ns
  ns=$(role_ns "$role")
  ip netns list | awk '{print $1}' | grep -qx "$ns" || die "namespace $ns does not exist"
  exec ip netns exec "$ns" "$@"
}

cmd_status() {
  [[ -n $LAB_ID ]] || usage_error "status needs --id ID"
  require_root
  require_tools ip
  local ns var pid
  for ns in $(lab_namespaces "$LAB_ID"); do
    printf '== %s (ip_forward=%s)\n' "$ns" "$(nsx "$ns" sysctl -n net.ipv4.ip_forward)"
    ip -n "$ns" -br link
    ip -n "$ns" -br -4 addr
    ip -n "$ns" -4 route | sed 's/^/route: /'
  done
  if [[ -f $STATE_ROOT/$LAB_ID/lab.env ]]; then
    load_env
    for var in $(compgen -v | grep -E '_(NGINX|PG)_PID$'); do
      pid=${!var}
      if kill -0 "$pid" 2>/dev/null; then
        printf '%s=%s (running)\n' "$var" "$pid"
      else
        printf '%s=%s (gone)\n' "$var" "$pid"
      fi
    done
  else
    echo "no state file $STATE_ROOT/$LAB_ID/lab.env"
  fi
}

cmd_demo() {
  [[ -n $LAB_ID ]] || usage_error "demo-traffic needs --id ID"
  require_root
  require_tools ip curl wrk
  load_env
  local url="http://$ONLINE_IP:$ONLINE_NGINX_PORT/"
  printf 'curl %s -> HTTP %s\n' "$url" \
    "$(nsx "$NS_CLIENT" curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$url")"
  nsx "$NS_CLIENT" timeout 10 wrk -t1 -c4 -d2s "$url"
  sleep 0.2
  printf 'online access log: %s lines (%s)\n' "$(wc -l <"$ONLINE_ACCESS_LOG")" "$ONLINE_ACCESS_LOG"
}

cmd_guard() {
  [[ -n $LAB_ID ]] || usage_error "guard needs --id ID"
  [[ $GUARD_PID =~ ^[0-9]+$ ]] || usage_error "guard needs --pid PID"
  require_root
  require_tools ip
  # Never keep the owner's pipes open: a dead reader would SIGPIPE us.
  exec </dev/null >/dev/null 2>&1
  # tail checks the PID every second itself: no sleep process forked a second for as long as the lab lives.
  tail --pid="$GUARD_PID" -f /dev/null
  do_down "$LAB_ID"
}

# ---------------------------------------------------------------- main

main() {
  (($# >= 1)) || { usage >&2; exit 2; }
  local cmd=$1
  shift
  OFFLOADS=off SINK=assistant FAKE_RANGE=$DEFAULT_FAKE_RANGE ONLINES=1 TARGET_PORT=80 GUARD_PID="" POSTGRES=0 IPV6=0
  CERTS_WITH=replaycluster-coordinator JSON=0
  local rest=()
  case $cmd in
    -h | --help | help) usage; return 0 ;;
    up | down | postgres | certs | exec | status | demo-traffic | guard) ;;
    *) usage_error "unknown command '$cmd'" ;;
  esac
  while (($# > 0)); do
    case $1 in
      --id) LAB_ID=${2:?--id needs a value}; shift 2 ;;
      --offloads) OFFLOADS=${2:?--offloads needs a value}; shift 2 ;;
      --sink) SINK=${2:?--sink needs a value}; shift 2 ;;
      --fake-range) FAKE_RANGE=${2:?--fake-range needs a value}; shift 2 ;;
      --onlines) ONLINES=${2:?--onlines needs a value}; shift 2 ;;
      --target-port) TARGET_PORT=${2:?--target-port needs a value}; shift 2 ;;
      --postgres) POSTGRES=1; shift ;;
      --ipv6) IPV6=1; shift ;;
      --json) JSON=1; shift ;;
      --pid) GUARD_PID=${2:?--pid needs a value}; shift 2 ;;
      --with) CERTS_WITH=${2:?--with needs a value}; shift 2 ;;
      --state-dir) STATE_ROOT=${2:?--state-dir needs a value}; shift 2 ;;
      -h | --help) usage; return 0 ;;
      --) rest+=("$@"); break ;;
      -*) [[ $cmd == exec ]] && { rest+=("$@"); break; }; usage_error "unknown option '$1'" ;;
      *) rest+=("$1"); shift ;;
    esac
  done
  if [[ -n $LAB_ID ]] && ! valid_id "$LAB_ID"; then
    usage_error "invalid --id '$LAB_ID' (1-8 of [a-z0-9])"
  fi
  case $cmd in
    up) ((${#rest[@]} == 0)) || usage_error "unexpected argument '${rest[0]}'"; cmd_up ;;
    down) cmd_down ;;
    postgres) ((${#rest[@]} == 0)) || usage_error "unexpected argument '${rest[0]}'"; cmd_postgres ;;
    certs) ((${#rest[@]} == 0)) || usage_error "unexpected argument '${rest[0]}'"; cmd_certs ;;
    exec) cmd_exec "${rest[@]}" ;;
    status) cmd_status ;;
    demo-traffic) cmd_demo ;;
    guard) cmd_guard ;;
  esac
}

main "$@"
