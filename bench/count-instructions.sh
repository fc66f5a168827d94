#!/usr/bin/env bash
# Instructions per line on IOStream's read path, counted by valgrind's callgrind: exact and repeatable (the same
# binary and input give the same count whatever else the machine does), unlike time on a shared host.
#
#   bench/count-instructions.sh                    # the current tree
#   bench/count-instructions.sh --baseline 289c803 # the current tree and that revision, side by side
#
# Each build reads 16,000 and then 64,000 lines (waiting: each line arrives in 3 pieces after its read started;
# buffered: 16 lines at once); (count at 64,000 - count at 16,000) / 48,000 is one line's cost, start-up and JIT
# excluded. Tiered compilation is off so that the code measured is the same in every run. Needs valgrind.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${BENCH_WORK:-${TMPDIR:-/tmp}/turbo-icount}"
baseline=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --baseline) baseline="$2"; shift 2 ;;
        *) echo "usage: $0 [--baseline REV]" >&2; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "count-instructions: valgrind is missing (apt-get install valgrind)" >&2; exit 2; }

# build NAME SOURCE_ROOT: the library at SOURCE_ROOT, then the counting program against it, into $work/NAME.
build() {
    local name=$1 root=$2
    dotnet build "$root/src/Turbo.Kestrel/Turbo.Kestrel.csproj" -c Release -o "$work/$name/lib" -nologo -v quiet >&2
    dotnet build "$repo/bench/ReadPathInstructions/ReadPathInstructions.csproj" -c Release -o "$work/$name/bin" \
        -p:TurboKestrelDll="$work/$name/lib/Turbo.Kestrel.dll" -nologo -v quiet >&2
}

count() { # count NAME MODE LINES
    DOTNET_TieredCompilation=0 DOTNET_TieredPGO=0 DOTNET_EnableWriteXorExecute=0 \
        valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        dotnet "$work/$1/bin/Turbo.Kestrel.Benchmarks.dll" "$2" "$3" 2>&1 | grep -oP 'Collected : \K[0-9]+'
}

builds=(current)
rm -rf "$work"
mkdir -p "$work"
build current "$repo"
if [[ -n "$baseline" ]]; then
    mkdir -p "$work/src-$baseline"
    git -C "$repo" archive "$baseline" | tar -x -C "$work/src-$baseline"
    build "$baseline" "$work/src-$baseline"
    builds=("$baseline" current)
fi

echo "| build | waiting: instructions per line | buffered: instructions per line |"
echo "|---|---:|---:|"
for name in "${builds[@]}"; do
    row="| $name |"
    for mode in waiting buffered; do
        small=$(count "$name" "$mode" 16000)
        large=$(count "$name" "$mode" 64000)
        row="$row $(( (large - small) / 48000 )) |"
    done
    echo "$row"
done
