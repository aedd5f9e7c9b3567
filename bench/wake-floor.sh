#!/usr/bin/env bash
# The machine's own floor under the reply relay's latency: how long a thread asleep in poll(2) takes to run again
# after another thread wakes it (bench/wake-floor/wake_floor.c), RUNS times, then once busy-polling for contrast.
# A reply crosses at least two such wake-ups (the intercept's capture thread, the capture node's shard thread), so
# the relay's p99 cannot be below this p99 without busy polling. Needs gcc; no root, no network.
#   bench/wake-floor.sh            # 3 runs of 2,000 wake-ups 2 ms apart, then 1 busy-polling run
#   RUNS=5 SAMPLES=5000 bench/wake-floor.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
samples=${SAMPLES:-2000}
binary=$(mktemp -d)/wake_floor
trap 'rm -rf "$(dirname "${binary}")"' EXIT
gcc -O2 -Wall -o "${binary}" "${here}/wake-floor/wake_floor.c" -lpthread
for ((i = 1; i <= runs; i++)); do
  timeout 120 "${binary}" "${samples}" 2000
done
timeout 120 "${binary}" "${samples}" 2000 spin
