#!/usr/bin/env bash
# precompile-lab-nodes.sh OUTPUT: the three nodes of the Release build, precompiled (ReadyToRun, framework-dependent)
# for the lab tests, into OUTPUT/Coordinator, OUTPUT/Capture and OUTPUT/Intercept.
#
# Why not `dotnet publish -r linux-x64 -p:PublishReadyToRun=true`: a publish for a runtime identifier builds into
# obj/.../linux-x64, so it compiled all seven projects again after the suite's build (~32 s of compiler time), then
# crossgen2 compiled every assembly once per node: the ~54 in each node's folder, mostly the same Akka, DotNetty and
# Microsoft.Extensions files, 161 compilations (~79 s of task time; the whole publish took 106 s of user CPU on a clean
# clone, 2-core VM, 2026-12-03). Here each node's build output is copied as it is and every distinct assembly is
# compiled once, with the same crossgen2 the SDK uses (its pack restored as a ReadyToRun publish restores it); a node
# folder then gets the compiled copy of each of its assemblies. Non-composite ReadyToRun code of one assembly does not
# depend on the exact build of the others (they are outside its version bubble), so one compiled Akka.dll serves all
# three nodes as the publish's three copies did.
#
# Exit status: 0 with every node folder complete; non-zero when something needed is missing (the caller then runs the
# lab on the build output). An assembly crossgen2 refuses (already precompiled, a reference assembly) is copied as it
# is and named on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

output=${1:?usage: tests/precompile-lab-nodes.sh OUTPUT}
configuration=${CONFIGURATION:-Release}
nodes=(Coordinator Capture Intercept)

for node in "${nodes[@]}"; do
  [[ -d src/${node}/bin/${configuration}/net10.0 ]] || { echo "no ${configuration} build of ${node}: build the solution first" >&2; exit 1; }
done

# The crossgen2 of the SDK's ReadyToRun publish: a NuGet pack, in the cache once restored for linux-x64.
dotnet restore deploy/nodes.slnf -r linux-x64 -p:PublishReadyToRun=true -nologo -v quiet >/dev/null
packages=${NUGET_PACKAGES:-${HOME}/.nuget/packages}
runtimes=$(dotnet --list-runtimes)
runtime=$(awk '$1 == "Microsoft.NETCore.App" { print $2 }' <<<"${runtimes}" | sort -V | tail -n 1)
crossgen2=${packages}/microsoft.netcore.app.crossgen2.linux-x64/${runtime}/tools/crossgen2
if [[ ! -x ${crossgen2} ]]; then
  # The SDK may pick a newer patch than the installed runtime: take the newest pack restored.
  crossgen2=$(ls -d "${packages}"/microsoft.netcore.app.crossgen2.linux-x64/*/tools/crossgen2 2>/dev/null | sort -V | tail -n 1 || true)
fi
[[ -x ${crossgen2} ]] || { echo "crossgen2 not found under ${packages}/microsoft.netcore.app.crossgen2.linux-x64" >&2; exit 1; }

# Compiled against the frameworks the nodes run on (the coordinator's HTTP API is ASP.NET Core's).
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
frameworks=()
for framework in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
  version=$(awk -v f="${framework}" '$1 == f { print $2 }' <<<"${runtimes}" | sort -V | tail -n 1)
  if [[ -n ${version} ]]; then
    frameworks+=("-r:${dotnet_root}/shared/${framework}/${version}/*.dll")
  fi
done

# Every distinct assembly (by content) of the three nodes, compiled once into a cache folder.
cache=${output}/.readytorun
mkdir -p "${cache}"
jobs=${cache}/jobs
: >"${jobs}"
# compiled_of: each node's assembly -> its compiled copy in the cache (one hash per file, reused when copying below).
declare -A seen=() compiled_of=()
for node in "${nodes[@]}"; do
  build=src/${node}/bin/${configuration}/net10.0
  for dll in "${build}"/*.dll; do
    key=$(basename "${dll}" .dll)-$(sha1sum "${dll}" | cut -c1-16)
    compiled_of[${dll}]=${cache}/${key}.dll
    [[ -n ${seen[${key}]:-} ]] && continue
    seen[${key}]=1
    # One job per line: the input, its compiled copy, the folder of its references.
    printf '%s\t%s\t%s\n' "$(readlink -f "${dll}")" "${cache}/${key}.dll" "$(readlink -f "${build}")" >>"${jobs}"
  done
done

compile_one() {
  local input=$1 compiled=$2 references=$3 log
  log=$(mktemp)
  if ! "${crossgen2}" "${input}" -o:"${compiled}.tmp" -r:"${references}/*.dll" "${frameworks[@]}" \
    --targetos:linux --targetarch:x64 -O >"${log}" 2>&1; then
    echo "not precompiled (copied as it is): $(basename "${input}"): $(head -c 300 "${log}")" >&2
    cp "${input}" "${compiled}.tmp"
  fi
  mv "${compiled}.tmp" "${compiled}"
  rm -f "${log}"
}
export -f compile_one
export crossgen2
# Arrays do not cross `export`: the framework references go as one string, split again in the child.
export frameworks_joined="${frameworks[*]}"
# One compilation per core (the caller lowers the priority).
tr '\t\n' '\0\0' <"${jobs}" | xargs -0 -n 3 -P "$(nproc)" bash -c 'read -r -a frameworks <<<"${frameworks_joined}"; compile_one "$@"' _

for node in "${nodes[@]}"; do
  build=src/${node}/bin/${configuration}/net10.0
  rm -rf "${output:?}/${node}"
  mkdir -p "${output}/${node}"
  cp -a "${build}/." "${output}/${node}/"
  for dll in "${build}"/*.dll; do
    cp "${compiled_of[${dll}]}" "${output}/${node}/$(basename "${dll}")"
  done
done
rm -rf "${cache}"
