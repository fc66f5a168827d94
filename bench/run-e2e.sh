#!/usr/bin/env bash
# End-to-end echo benchmark: Turbo.Kestrel's EchoBench beside the shared kit's peers, in one run.
#
#   bench/run-e2e.sh                      # full preset: c-epoll kestrel-raw kestrel-inline kestrel-inline-cc0 go turbo turbo-inline
#   bench/run-e2e.sh --quick              # smoke run
#   bench/run-e2e.sh --cells "raw64 lines64x16" --repeat 3 --peers "kestrel-raw turbo"
#   bench/run-e2e.sh --baseline 289c803 --peers "kestrel-raw kestrel-inline-cc0 turbo-base turbo turbo-inline-base turbo-inline"
#
# --baseline REV also builds EchoBench as it was at git revision REV and adds it as the peers turbo-base and
# turbo-inline-base, so that a change is measured against what it replaces in one run, on one machine.
#
# Arguments go to the kit's run.sh. The kit is ../shared/bench next to the repository unless BENCH_KIT names it;
# it is copied to a scratch folder and built there (its build.sh apt-installs gcc, go, ... when missing).
# Peers added here:
#   turbo         bench/EchoBench with the library's default settings
#   turbo-inline  the same with IOLoop.InlineScheduling = true and DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1,
#                 the configuration of the kit's kestrel-inline
#   kestrel-inline-cc0  the kit's kestrel-inline with the runtime setting EchoBench ships with
#                 (System.Runtime.TieredCompilation.CallCountingDelayMs=0): the like-for-like baseline
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${BENCH_KIT:-$repo/../shared/bench}"
work="${BENCH_WORK:-${TMPDIR:-/tmp}/turbo-bench}"

if [[ ! -x "$kit/run.sh" ]]; then
    echo "run-e2e: no benchmark kit at $kit (set BENCH_KIT)" >&2
    exit 2
fi

mkdir -p "$work"
if [[ ! -x "$work/bench/build/loadgen" ]]; then
    rm -rf "$work/bench"
    cp -r "$kit" "$work/bench"
    chmod -R u+w "$work/bench"
    "$work/bench/build.sh"
fi

dotnet build "$repo/bench/EchoBench/EchoBench.csproj" -c Release -o "$work/echobench" -nologo -v quiet >&2
dll="$work/echobench/EchoBench.dll"

peers="c-epoll kestrel-raw kestrel-inline kestrel-inline-cc0 go turbo turbo-inline"
baseline=""
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --peers) peers="$2"; shift 2 ;;
        --baseline) baseline="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

base_peers=()
if [[ -n "$baseline" ]]; then
    rm -rf "$work/baseline-src"
    mkdir -p "$work/baseline-src"
    git -C "$repo" archive "$baseline" | tar -x -C "$work/baseline-src"
    dotnet build "$work/baseline-src/bench/EchoBench/EchoBench.csproj" -c Release -o "$work/echobench-base" -nologo -v quiet >&2
    base="$work/echobench-base/EchoBench.dll"
    base_peers=(
        --peer "turbo-base=dotnet $base --port {port} --mode {mode}"
        --peer "turbo-inline-base=env DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 dotnet $base --port {port} --mode {mode} --inline"
    )
fi

cd "$work/bench"
exec ./run.sh \
    --peer "turbo=dotnet $dll --port {port} --mode {mode}" \
    --peer "kestrel-inline-cc0=env DOTNET_TC_CallCountingDelayMs=0 DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 dotnet $work/bench/build/kestrel-raw/kestrel-raw.dll --port {port} --mode {mode} --inline" \
    --peer "turbo-inline=env DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 dotnet $dll --port {port} --mode {mode} --inline" \
    "${base_peers[@]}" --peers "$peers" "${args[@]}"
