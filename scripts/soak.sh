#!/usr/bin/env bash
# Soak test: N concurrent connections (default 10,000) with churn, for a bounded time, against example/EchoHost.
# Reports server RSS before / during / after, errors, and leaked connections (0 expected). See --help.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

CONNS=10000
DURATION=60
CHURN_PCT=5
RST_PCT=10
CONNECT_CC=128
OP_TIMEOUT=10
SAMPLE_EVERY=5
SETTLE=30
RSS_SETTLE=5
WARMUP_CONNS=200
DLL=""
REV=""
KEEP=0
SERVER_ARGS=()

usage() {
    cat <<EOF
usage: scripts/soak.sh [options] [-- extra EchoHost arguments]

Builds example/EchoHost (Release), starts it on free loopback ports, then runs scripts/soak_client.c (built with cc):
opens --conns connections, each verified with one echoed line; for --seconds, churns them in cycles (closes a random
--churn-pct of them, --rst-pct of those with RST and the rest with FIN, pings as many others with one line, and opens
verified replacements until --conns are open again); then closes them all. Reports the server's RSS, fd count and
sockets on its port before / during / after, churn cycles, errors, and leaked connections (server sockets still open,
or server fds above the baseline, after every client closed and the server had --settle seconds to clean up).
Exit status: 0 when errors = 0 and leaks = 0, 1 otherwise, 2 on a setup failure. Everything is on 127.0.0.1 and is
bounded in time (a watchdog ends the run whatever happens); the server is always stopped.

options:
  --seconds N              churn duration in seconds (default $DURATION)
  --conns N                concurrent connections to hold (default $CONNS; needs N + 200 <= the hard 'ulimit -n')
  --churn-pct P            share of the connections closed and replaced per cycle (default $CHURN_PCT)
  --rst-pct P              share of those closes that are RST (SO_LINGER 0) rather than FIN (default $RST_PCT)
  --connect-concurrency C  connections connecting at once (default $CONNECT_CC)
  --op-timeout S           seconds a connect + echo or a ping may take before it is an error (default $OP_TIMEOUT)
  --sample-every S         seconds between server samples while the connections are held (default $SAMPLE_EVERY)
  --settle S               seconds to wait for the server to release every connection after the close (default $SETTLE)
  --dll PATH               use this built EchoHost.dll instead of building
  --rev REV                build EchoHost from git revision REV (git archive) instead of the working tree
  --keep                   keep the work directory (build, logs) even when the run passes
  -h, --help               this text

The working tree (src/, example/) is copied to a temporary directory and built there, so that the run does not share
bin/ and obj/ with builds going on in the checkout.
EOF
}

die_usage() { echo "soak.sh: $*" >&2; echo "try: scripts/soak.sh --help" >&2; exit 2; }
is_num() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

while [[ $# -gt 0 ]]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --seconds) DURATION=${2:?}; shift 2 ;;
        --conns) CONNS=${2:?}; shift 2 ;;
        --churn-pct) CHURN_PCT=${2:?}; shift 2 ;;
        --rst-pct) RST_PCT=${2:?}; shift 2 ;;
        --connect-concurrency) CONNECT_CC=${2:?}; shift 2 ;;
        --op-timeout) OP_TIMEOUT=${2:?}; shift 2 ;;
        --sample-every) SAMPLE_EVERY=${2:?}; shift 2 ;;
        --settle) SETTLE=${2:?}; shift 2 ;;
        --dll) DLL=${2:?}; shift 2 ;;
        --rev) REV=${2:?}; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --) shift; SERVER_ARGS=("$@"); break ;;
        *) die_usage "unknown argument '$1'" ;;
    esac
done
for v in CONNS DURATION CHURN_PCT RST_PCT CONNECT_CC OP_TIMEOUT SAMPLE_EVERY SETTLE; do
    is_num "${!v}" || die_usage "$v must be a number, got '${!v}'"
done
[[ $CONNS =~ ^[0-9]+$ && $CONNS -ge 1 ]] || die_usage "--conns must be a whole number >= 1"
[[ $DURATION =~ ^[0-9]+$ && $DURATION -le 3600 ]] || die_usage "--seconds must be a whole number <= 3600"
[[ -z $DLL || -f $DLL ]] || die_usage "--dll: no such file: $DLL"
for tool in dotnet cc ss curl awk timeout; do
    command -v "$tool" >/dev/null || { echo "soak.sh: '$tool' is required" >&2; exit 2; }
done

# --- file descriptors: the client holds CONNS sockets, the server as many plus its own ----------------------------
HARD_NOFILE=$(ulimit -Hn)
if [[ $HARD_NOFILE != unlimited && $HARD_NOFILE -lt $((CONNS + 200)) ]]; then
    echo "soak.sh: hard 'ulimit -n' is $HARD_NOFILE; --conns $CONNS needs at least $((CONNS + 200))" >&2
    exit 2
fi
ulimit -Sn "$HARD_NOFILE"

# --- work directory, cleanup, watchdog ----------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/turbo-soak.XXXXXX")
SERVER_PID=""
CLIENT_PID=""
WATCHDOG_PID=""
RESULT=2
# whole-run budget: build + start + warm-up + open + churn + close + settle, with room to spare
HARD_TIMEOUT=$((900 + 60 + 60 + 120 + DURATION + 4 * ${OP_TIMEOUT%.*} + 60 + ${SETTLE%.*} + RSS_SETTLE + 60))

stop_pid() { # pid, seconds to wait after TERM before KILL
    local pid=$1 wait=$2 i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$CLIENT_PID" 2
    stop_pid "$SERVER_PID" 15
    [[ -n $WATCHDOG_PID ]] && kill "$WATCHDOG_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ $KEEP == 1 || $RESULT != 0 ]]; then
        echo "work directory kept: $WORK (server.log, client.log, build.log)"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "soak.sh: interrupted" >&2; exit 130' INT TERM
(
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$HARD_TIMEOUT" & sleeper=$!
    wait "$sleeper"
    echo "soak.sh: hard timeout (${HARD_TIMEOUT}s) reached, stopping" >&2
    kill -TERM $$
) &
WATCHDOG_PID=$!

log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# --- build --------------------------------------------------------------------------------------------------------
log "work directory $WORK"
cc -O2 -Wall -o "$WORK/soak_client" "$ROOT/scripts/soak_client.c" || { echo "soak.sh: client build failed" >&2; exit 2; }
if [[ -n $DLL ]]; then
    SERVER_DLL=$(cd "$(dirname "$DLL")" && pwd)/$(basename "$DLL")
    SOURCE="prebuilt $SERVER_DLL"
else
    mkdir -p "$WORK/tree"
    if [[ -n $REV ]]; then
        SOURCE="git revision $(git -C "$ROOT" rev-parse --short "$REV")"
        git -C "$ROOT" archive "$REV" Directory.Build.props NuGet.config src example | tar -x -C "$WORK/tree"
    else
        SOURCE="working tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
        if [[ -n $(git -C "$ROOT" status --porcelain -- src example 2>/dev/null || true) ]]; then
            SOURCE+=" + uncommitted changes"
        fi
        (cd "$ROOT" && tar --exclude=bin --exclude=obj -cf - Directory.Build.props NuGet.config src example) | tar -x -C "$WORK/tree"
    fi
    log "building EchoHost (Release) from $SOURCE"
    if ! timeout 900 dotnet build "$WORK/tree/example/EchoHost" -c Release -o "$WORK/server" >"$WORK/build.log" 2>&1; then
        tail -30 "$WORK/build.log" >&2
        echo "soak.sh: EchoHost build failed (full log: $WORK/build.log)" >&2
        exit 2
    fi
    SERVER_DLL=$WORK/server/EchoHost.dll
fi

# --- ports: outside the ephemeral range, so that no client socket can have the server's port as its source port ----
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range
port_free() { [[ -z $(ss -Htan "( sport = :$1 or dport = :$1 )" 2>/dev/null) ]]; }
pick_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        ((p >= EPH_LO && p <= EPH_HI)) && continue
        [[ ${1:-} == "$p" ]] && continue
        port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}
PORT=$(pick_port) || { echo "soak.sh: no free port found" >&2; exit 2; }
HTTP_PORT=$(pick_port "$PORT") || { echo "soak.sh: no free port found" >&2; exit 2; }

# --- server -------------------------------------------------------------------------------------------------------
log "starting EchoHost: tcp://127.0.0.1:$PORT, http://127.0.0.1:$HTTP_PORT"
(cd "$(dirname "$SERVER_DLL")" && exec dotnet "$SERVER_DLL" \
    "--Turbo:Servers:Echo:Endpoints:Main:Url=tcp://127.0.0.1:$PORT" \
    --urls "http://127.0.0.1:$HTTP_PORT" "${SERVER_ARGS[@]}") >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 600; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -30 "$WORK/server.log" >&2; echo "soak.sh: EchoHost exited at start" >&2; exit 2; }
    if curl -fsS --max-time 2 "http://127.0.0.1:$HTTP_PORT/ready" >/dev/null 2>&1 &&
        [[ -n $(ss -Htln "( sport = :$PORT )") ]]; then
        break
    fi
    sleep 0.1
done
[[ $i -lt 600 ]] || { tail -30 "$WORK/server.log" >&2; echo "soak.sh: EchoHost not ready after 60 s" >&2; exit 2; }
[[ $(cat "/proc/$SERVER_PID/comm" 2>/dev/null) == dotnet ]] || { echo "soak.sh: server pid $SERVER_PID is not dotnet" >&2; exit 2; }

# --- measurements -------------------------------------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0; }
est_count() { ss -Htn state established "( sport = :$PORT )" | wc -l; }
closewait_count() { ss -Htn state close-wait "( sport = :$PORT )" | wc -l; }
# every server-side socket of the port that is neither the listener nor TIME-WAIT (established, close-wait,
# last-ack, fin-wait, syn-recv ...): with all clients gone, anything here is a connection the server still holds
server_socks() { ss -Htan "( sport = :$PORT )" | awk '$1 != "LISTEN" && $1 != "TIME-WAIT"' | wc -l; }
# system-wide TCP counters (/proc/net/netstat): SYNs dropped because a listen queue was full (the client retries them
# after 1 s, 3 s, ...: slow connects, not errors)
listen_drops() { awk '$1 == "TcpExt:" { if (!n) { for (i = 2; i <= NF; i++) h[i] = $i; n = 1 } else for (i = 2; i <= NF; i++) if (h[i] == "ListenDrops") print $i }' /proc/net/netstat; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

run_client() { # log file, client args...
    local out=$1; shift
    timeout --kill-after=5 "$((${OP_TIMEOUT%.*} * 4 + 180))" "$WORK/soak_client" --port "$PORT" "$@" >"$out" 2>&1
}

RSS_START=$(rss_kb); FD_START=$(fd_count)

# warm-up: JIT, thread pool, socket engines; the baseline is taken after it, once the server is idle again
log "warm-up: $WARMUP_CONNS connections, 2 s of churn"
if ! run_client "$WORK/warmup.log" --conns "$WARMUP_CONNS" --seconds 2 --op-timeout "$OP_TIMEOUT"; then
    grep -E '^(ERROR|RESULT)' "$WORK/warmup.log" >&2 || tail -5 "$WORK/warmup.log" >&2
    echo "soak.sh: warm-up failed: the server does not echo correctly" >&2
    RESULT=1; exit 1
fi
wait_idle() { # seconds [fd baseline]: until the server holds no socket on the port (and no fd above the baseline)
    local limit=$1 fd_base=${2:-999999999} t0=$SECONDS
    while ((SECONDS - t0 < limit)); do
        [[ $(server_socks) -eq 0 && $(fd_count) -le $fd_base ]] && return 0
        sleep 0.5
    done
    return 1
}
wait_idle 10 || true
sleep 2
RSS_BEFORE=$(rss_kb); FD_BEFORE=$(fd_count); EST_BEFORE=$(est_count); SOCKS_BEFORE=$(server_socks); THR_BEFORE=$(threads)
log "baseline: RSS $(mib "$RSS_BEFORE") MiB, fds $FD_BEFORE, established $EST_BEFORE, threads $THR_BEFORE"

# --- the soak -----------------------------------------------------------------------------------------------------
DROPS_BEFORE=$(listen_drops)
log "soak: $CONNS connections, ${DURATION}s of churn (${CHURN_PCT}% per cycle, ${RST_PCT}% of closes RST)"
CLIENT_TIMEOUT=$((120 + DURATION + 4 * ${OP_TIMEOUT%.*} + 60))
timeout --kill-after=5 "$CLIENT_TIMEOUT" "$WORK/soak_client" --port "$PORT" --conns "$CONNS" --seconds "$DURATION" \
    --churn-pct "$CHURN_PCT" --rst-pct "$RST_PCT" --connect-concurrency "$CONNECT_CC" --op-timeout "$OP_TIMEOUT" \
    --open-timeout 120 >"$WORK/client.log" 2>&1 &
CLIENT_PID=$!

SAMPLES=()   # "t rss fds est threads"
sample() {
    local r f e th
    r=$(rss_kb); f=$(fd_count); e=$(est_count); th=$(threads)
    SAMPLES+=("$1 $r $f $e $th")
    log "during t=${1}s: RSS $(mib "$r") MiB, fds $f, established $e, threads $th, client: $(grep '^PROGRESS' "$WORK/client.log" | tail -1 | cut -d' ' -f3- || true)"
}
# wait for the open phase to finish
while kill -0 "$CLIENT_PID" 2>/dev/null && ! grep -q '^PHASE churn' "$WORK/client.log"; do sleep 0.2; done
if grep -q '^PHASE churn' "$WORK/client.log"; then
    log "$(grep '^PHASE churn' "$WORK/client.log")"
    T_CHURN=$SECONDS
    sample 0
    next=$SAMPLE_EVERY
    while kill -0 "$CLIENT_PID" 2>/dev/null && ! grep -q '^PHASE closing' "$WORK/client.log"; do
        if ((SECONDS - T_CHURN >= next)); then
            ((SECONDS - T_CHURN < DURATION)) && sample "$((SECONDS - T_CHURN))"
            next=$((next + ${SAMPLE_EVERY%.*}))
        fi
        sleep 0.2
    done
fi
CLIENT_RC=0
wait "$CLIENT_PID" || CLIENT_RC=$?
CLIENT_PID=""
DROPS=$(($(listen_drops) - DROPS_BEFORE))
log "client finished (exit $CLIENT_RC)"

declare -A R=()
if line=$(grep '^RESULT' "$WORK/client.log" | tail -1); then
    for kv in ${line#RESULT }; do R[${kv%%=*}]=${kv#*=}; done
fi
val() { echo "${R[$1]:-?}"; }

# --- after: let the server release everything -------------------------------------------------------------------
T_CLOSE=$SECONDS
SETTLED=no
if wait_idle "${SETTLE%.*}" "$FD_BEFORE"; then SETTLED=yes; fi
SETTLE_S=$((SECONDS - T_CLOSE))
sleep "$RSS_SETTLE"
SERVER_ALIVE=yes; kill -0 "$SERVER_PID" 2>/dev/null || SERVER_ALIVE=no
RSS_AFTER=$(rss_kb); FD_AFTER=$(fd_count); EST_AFTER=$(est_count); CW_AFTER=$(closewait_count)
SOCKS_AFTER=$(server_socks); THR_AFTER=$(threads)
FD_LEAK=$((FD_AFTER > FD_BEFORE ? FD_AFTER - FD_BEFORE : 0))
SOCK_LEAK=$((SOCKS_AFTER > SOCKS_BEFORE ? SOCKS_AFTER - SOCKS_BEFORE : 0))
LEAKS=$((FD_LEAK > SOCK_LEAK ? FD_LEAK : SOCK_LEAK))
ss -Htan "( sport = :$PORT )" | awk '$1 != "LISTEN"' >"$WORK/server-sockets-after.txt" || true

# the server must still serve after the soak
POST_OK=no
if [[ $SERVER_ALIVE == yes ]] && run_client "$WORK/post.log" --conns 10 --seconds 0 --op-timeout "$OP_TIMEOUT"; then POST_OK=yes; fi

SRV_WARN=$(grep -cE '^(warn|fail|crit):' "$WORK/server.log" || true)

# --- summary ------------------------------------------------------------------------------------------------------
during_stats() { # column -> "min / median / max"
    printf '%s\n' "${SAMPLES[@]}" | awk -v c="$1" '{ print $c }' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } printf "%s / %s / %s", v[1], v[int((NR + 1) / 2)], v[NR] }'
}
during_rss() {
    printf '%s\n' "${SAMPLES[@]}" | awk '{ print $2 }' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } printf "%.1f / %.1f / %.1f", v[1] / 1024, v[int((NR + 1) / 2)] / 1024, v[NR] / 1024 }'
}
ERRORS=$(val errors)
[[ $ERRORS =~ ^[0-9]+$ ]] || ERRORS=1   # no RESULT line: the client failed, count it as an error
PASS=yes
[[ $ERRORS -eq 0 && $LEAKS -eq 0 && $CLIENT_RC -eq 0 && $SERVER_ALIVE == yes && $POST_OK == yes ]] || PASS=no

echo
echo "=== Soak summary: EchoHost ($SOURCE), $(val conns) connections, ${DURATION}s churn ==="
printf '%-34s %s\n' "server" "pid $SERVER_PID, tcp://127.0.0.1:$PORT, $(nproc) CPUs, ulimit -n $(ulimit -Sn)"
printf '%-34s %s\n' "setup (open + verify all)" "$(val setup_s) s"
echo
printf '%-26s %12s %10s %14s %9s\n' "server" "RSS MiB" "fds" "established" "threads"
printf '%-26s %12s %10s %14s %9s\n' "start (fresh)" "$(mib "$RSS_START")" "$FD_START" "-" "-"
printf '%-26s %12s %10s %14s %9s\n' "before (warm, 0 conns)" "$(mib "$RSS_BEFORE")" "$FD_BEFORE" "$EST_BEFORE" "$THR_BEFORE"
printf '%-26s %12s %10s %14s %9s\n' "during min/med/max (${#SAMPLES[@]})" "" "" "" ""
printf '  %-24s %12s\n' "RSS MiB" "$(during_rss)"
printf '  %-24s %12s\n' "fds" "$(during_stats 3)"
printf '  %-24s %12s\n' "established" "$(during_stats 4)"
printf '  %-24s %12s\n' "threads" "$(during_stats 5)"
printf '%-26s %12s %10s %14s %9s\n' "after (settled ${SETTLE_S}s+${RSS_SETTLE}s)" "$(mib "$RSS_AFTER")" "$FD_AFTER" "$EST_AFTER" "$THR_AFTER"
echo
printf '%-34s %s\n' "churn cycles" "$(val cycles) in $(val churn_s) s = $(val cycles_per_s) cycles/s"
printf '%-34s %s\n' "connections churned" "$(val churned) ($(val churn_conns_per_s)/s; FIN $(val closed_fin), RST $(val closed_rst))"
printf '%-34s %s\n' "connections opened in all" "$(val opened_total)"
printf '%-34s %s\n' "pings on held connections" "$(val pings_ok) ok"
printf '%-34s %s\n' "open at churn start / end" "$(val open_at_start) / $(val open_at_end)"
printf '%-34s %s\n' "connect+echo ms p50/p99/max" "$(val echo_ms_p50) / $(val echo_ms_p99) / $(val echo_ms_max)"
printf '%-34s %s\n' "listen queue drops (SYN retried)" "$DROPS (system-wide TcpExt ListenDrops during the soak)"
printf '%-34s %s\n' "errors" "$ERRORS (connect $(val connect_failures), mismatch $(val echo_mismatch), unexpected close $(val unexpected_close), timeout $(val timeouts), local $(val local_errors))"
printf '%-34s %s\n' "server sockets after (non-TW)" "$SOCKS_AFTER (established $EST_AFTER, close-wait $CW_AFTER; before: $SOCKS_BEFORE)"
printf '%-34s %s\n' "server fds above baseline" "$FD_LEAK ($FD_BEFORE -> $FD_AFTER)"
printf '%-34s %s\n' "leaked connections" "$LEAKS (settled: $SETTLED)"
printf '%-34s %s\n' "server alive / serves after soak" "$SERVER_ALIVE / $POST_OK"
printf '%-34s %s\n' "server log warn/fail/crit lines" "$SRV_WARN"
printf '%-34s %s\n' "result" "$([[ $PASS == yes ]] && echo PASS || echo FAIL)"
if [[ $PASS != yes ]]; then
    echo
    grep '^ERROR' "$WORK/client.log" | head -20 || true
    grep -E -A3 '^(warn|fail|crit):' "$WORK/server.log" | head -40 || true
    [[ -s $WORK/server-sockets-after.txt ]] && { echo "server sockets left:"; head -10 "$WORK/server-sockets-after.txt"; }
fi

if [[ $PASS == yes ]]; then RESULT=0; exit 0; else RESULT=1; exit 1; fi
