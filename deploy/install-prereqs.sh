#!/usr/bin/env bash
# Installs what ReplayCluster's lab, demo and tests need on Debian, idempotently: packages already
# present are not touched, and apt-get update runs only when something is missing.
#   libpcap0.8   SharpPcap's native library (capture nodes, intercept nodes)
#   nginx        online and target servers in the lab
#   wrk, curl    load generators in the lab
#   nftables     packet-loss injection in the lab
#   ethtool      offload settings of lab interfaces
#   iproute2     network namespaces and veth pairs
#   tcpdump      cross-checks of our pcap files and captures
#   wireshark-common  editcap, to make pcapng files from tcpdump captures in tests
#   python3      a throwaway HTTP server in packet I/O tests, helper servers in replay tests
#   libcap2-bin  setcap/getcap: published capture and intercept binaries run without root
#   systemd      systemd-analyze verifies the unit files in tests
#   util-linux   setpriv and unshare: doctor tests run nodes unprivileged or without libpcap
#   python3-prometheus-client  a real Prometheus parser for the coordinator's /metrics in tests
#   chromium     a real headless browser for the dashboard test
#   procps       ps/pkill-free process inspection used by scripts
#   postgresql   one PostgreSQL cluster per lab host (lab.sh --postgres) and pgbench, which Debian 12 ships in
#                postgresql-15 (there is no separate pgbench package); its system-wide cluster, if the package
#                started one, listens only in the root namespace and on its own socket, so the lab ignores it
set -euo pipefail

packages=(libpcap0.8 nginx wrk nftables ethtool iproute2 tcpdump wireshark-common curl procps python3 libcap2-bin systemd util-linux python3-prometheus-client chromium postgresql)

if [[ ${EUID} -ne 0 ]]; then
  echo "install-prereqs: must run as root (apt-get install). Try: sudo $0" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("${package}")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-prereqs: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's nginx package starts a system-wide nginx on port 80 in the root namespace; the lab runs
# its own instances in namespaces and does not need it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-prereqs: the .NET SDK 10 (dotnet) is not on PATH; install it first" >&2
  exit 1
fi
