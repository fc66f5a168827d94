#!/usr/bin/env bash
# Runs the tests, tier by tier, and writes one TRX file per tier into ./TestResults/.
#
#   ./test.sh                    every tier: fast, then functional, then stress
#   ./test.sh fast               the fast tier only (in-memory and loopback; nothing but the .NET SDK)
#   ./test.sh functional stress  the tiers named
#   ./test.sh -- --filter "FullyQualifiedName~Hosting"   arguments after -- (and any that are not a tier) go to
#                                                        every `dotnet test`
#
# Tiers (test/<project>):
#   fast        Turbo.Kestrel.Tests            in-memory pipes and real sockets on 127.0.0.1
#   functional  Turbo.Kestrel.FunctionalTests  EchoHost as a process, haproxy, openssl, pack-and-consume
#   stress      Turbo.Kestrel.StressTests      a process at its descriptor limit, faults at scale, bulk transfers
# The functional tier needs haproxy and openssl (Debian packages of those names); a missing one fails its tests with
# that name. Each tier builds what it needs. The tiers run one after the other (the stress tier measures a whole
# process and wants the machine to itself); the exit code is non-zero when any tier failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

declare -A projects=(
    [fast]=test/Turbo.Kestrel.Tests
    [functional]=test/Turbo.Kestrel.FunctionalTests
    [stress]=test/Turbo.Kestrel.StressTests
)

tiers=()
pass=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        fast|functional|stress) tiers+=("$1") ;;
        --) shift; pass+=("$@"); break ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) pass+=("$1") ;; # anything else (e.g. --no-build) goes to dotnet test
    esac
    shift
done
[[ ${#tiers[@]} -gt 0 ]] || tiers=(fast functional stress)

status=0
for tier in "${tiers[@]}"; do
    printf '==> %s tier (%s)\n' "$tier" "${projects[$tier]}"
    dotnet test "${projects[$tier]}" -c Release \
        --logger "trx;LogFileName=$tier.trx" --results-directory TestResults "${pass[@]}" || status=1
done
exit "$status"
