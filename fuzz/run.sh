#!/usr/bin/env bash
# Fuzzes Turbo.Kestrel's internal parsers with AFL++ and SharpFuzz for a bounded time, then prints per target the
# executions, executions per second, crashes and hangs from AFL's fuzzer_stats.
#
#   fuzz/run.sh [--seconds N] [target...]      targets: proxy delimiter (default: both), N: per target (default 60)
#
# Installs what is missing: afl++ (apt-get; sudo -n when not root) and the sharpfuzz instrumenter (dotnet tool, into
# fuzz/.tools). Publishes the harness to fuzz/.work (or $FUZZ_WORK_DIR), instruments Turbo.Kestrel.dll there, runs
# afl-fuzz per target. Crash and hang inputs are copied to fuzz/findings/<target>/, each crash with its replayed stack
# trace (<name>.txt) and an afl-tmin minimized copy (<name>.min). Exit status: 0 no crash, 1 crash found, 2 usage or
# setup error.
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$FUZZ_DIR/.." && pwd)"
TOOLS="$FUZZ_DIR/.tools"
WORK="${FUZZ_WORK_DIR:-$FUZZ_DIR/.work}"
PROJECT="$FUZZ_DIR/Turbo.Kestrel.Fuzz/Turbo.Kestrel.Fuzz.csproj"
SHARPFUZZ_VERSION=2.3.0
ALL_TARGETS=(proxy delimiter)

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit "${1:-2}"
}

seconds=60
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || usage; seconds="$2"; shift 2 ;;
        --seconds=*) seconds="${1#*=}"; [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage; shift ;;
        -h|--help) usage 0 ;;
        proxy|delimiter) targets+=("$1"); shift ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

log() { printf '[fuzz] %s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------------------------------------------------
if ! command -v afl-fuzz >/dev/null 2>&1; then
    log "installing afl++ (apt-get)"
    sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y --no-install-recommends afl++ >"$FUZZ_DIR/.apt.log" 2>&1; then
        "${sudo[@]}" apt-get update -qq >>"$FUZZ_DIR/.apt.log" 2>&1 || true
        "${sudo[@]}" apt-get install -y --no-install-recommends afl++ >>"$FUZZ_DIR/.apt.log" 2>&1 \
            || { tail -20 "$FUZZ_DIR/.apt.log" >&2; log "could not install afl++"; exit 2; }
    fi
    rm -f "$FUZZ_DIR/.apt.log"
fi

SHARPFUZZ="$TOOLS/sharpfuzz"
if [[ ! -x "$SHARPFUZZ" ]]; then
    log "installing sharpfuzz $SHARPFUZZ_VERSION into $TOOLS"
    dotnet tool install SharpFuzz.CommandLine --version "$SHARPFUZZ_VERSION" --tool-path "$TOOLS" >/dev/null
fi

# --- publish and instrument ------------------------------------------------------------------------------------------
# A fresh publish every run: sharpfuzz refuses a DLL it already instrumented. The build's intermediate files go under
# the work dir too, so this never races a build of the solution in the source tree.
PUBLISH="$WORK/publish"
rm -rf "$PUBLISH"
mkdir -p "$WORK"
log "publishing the harness to $PUBLISH"
dotnet publish "$PROJECT" -c Release -o "$PUBLISH" --artifacts-path "$WORK/artifacts" --nologo -v quiet \
    -p:TreatWarningsAsErrors=true >"$WORK/publish.log" 2>&1 \
    || { tail -30 "$WORK/publish.log" >&2; log "publish failed"; exit 2; }
log "instrumenting Turbo.Kestrel.dll"
DOTNET_ROLL_FORWARD=Major "$SHARPFUZZ" "$PUBLISH/Turbo.Kestrel.dll" >"$WORK/sharpfuzz.log" 2>&1 \
    || { cat "$WORK/sharpfuzz.log" >&2; log "sharpfuzz failed"; exit 2; }

# --- fuzz ------------------------------------------------------------------------------------------------------------
export AFL_SKIP_BIN_CHECK=1                     # the target binary is dotnet, which AFL did not instrument
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1  # core_pattern cannot be changed here
export AFL_SKIP_CPUFREQ=1
export AFL_NO_UI=1
export AFL_NO_AFFINITY=1                        # do not fail when another fuzzer holds the free cores
export AFL_SKIP_CRASHES=1                     # a seed that crashes is skipped, not fatal

stat_of() { sed -n "s/^$1 *: *//p" "$2" | head -1; }

crashed=0
failed=0
summary=()
for target in "${targets[@]}"; do
    out="$WORK/afl/$target"
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    log "fuzzing $target for ${seconds}s"
    rc=0
    timeout -k 10 $((seconds + 120)) \
        afl-fuzz -V "$seconds" -i "$FUZZ_DIR/corpus/$target" -o "$out" -t 5000 -m none \
        -- "$(command -v dotnet)" "$PUBLISH/Turbo.Kestrel.Fuzz.dll" "$target" >"$WORK/afl-$target.log" 2>&1 || rc=$?
    stats="$out/default/fuzzer_stats"
    if [[ ! -f "$stats" ]]; then
        tail -30 "$WORK/afl-$target.log" >&2
        log "afl-fuzz did not run for $target (exit $rc); log: $WORK/afl-$target.log"
        failed=1
        summary+=("$(printf '%-10s %12s %10s %8s %6s' "$target" '-' '-' '-' '-')")
        continue
    fi

    execs=$(stat_of execs_done "$stats")
    rate=$(stat_of execs_per_sec "$stats")
    crashes=$(stat_of saved_crashes "$stats"); crashes=${crashes:-$(stat_of unique_crashes "$stats")}
    hangs=$(stat_of saved_hangs "$stats"); hangs=${hangs:-$(stat_of unique_hangs "$stats")}
    summary+=("$(printf '%-10s %12s %10s %8s %6s' "$target" "$execs" "$rate" "${crashes:-0}" "${hangs:-0}")")

    findings="$FUZZ_DIR/findings/$target"
    for kind in crash hang; do
        dir="$out/default/crashes"
        [[ "$kind" == crash ]] || dir="$out/default/hangs"
        for file in "$dir"/id:*; do
            [[ -f "$file" ]] || continue
            mkdir -p "$findings"
            name="$kind-$(sha1sum "$file" | cut -c1-16)"
            cp "$file" "$findings/$name"
            if [[ "$kind" == crash ]]; then
                crashed=1
                dotnet "$PUBLISH/Turbo.Kestrel.Fuzz.dll" replay "$target" "$findings/$name" >"$findings/$name.txt" 2>&1 || true
                # A minimized copy (afl-tmin) is easier to read and to turn into a test; best effort, bounded.
                if timeout -k 5 60 afl-tmin -i "$findings/$name" -o "$findings/$name.min" -t 5000 -m none \
                    -- "$(command -v dotnet)" "$PUBLISH/Turbo.Kestrel.Fuzz.dll" "$target" >/dev/null 2>&1; then
                    dotnet "$PUBLISH/Turbo.Kestrel.Fuzz.dll" replay "$target" "$findings/$name.min" >"$findings/$name.min.txt" 2>&1 || true
                else
                    rm -f "$findings/$name.min"
                fi
                log "crash: $findings/$name (stack: $name.txt; minimized: $name.min)"
            else
                log "hang: $findings/$name"
            fi
        done
    done
done

printf '\n%-10s %12s %10s %8s %6s\n' target execs exec/s crashes hangs
printf '%s\n' "${summary[@]}"
if [[ $crashed -ne 0 ]]; then
    printf '\ncrash inputs are in %s; replay: dotnet %s replay <target> <file>\n' "$FUZZ_DIR/findings" "$PUBLISH/Turbo.Kestrel.Fuzz.dll"
    exit 1
fi
[[ $failed -eq 0 ]] || exit 2
