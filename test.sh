#!/usr/bin/env bash
# Runs every test in Turbo.Kestrel.sln. Results (TRX) go to ./TestResults/.
# Extra arguments are passed to `dotnet test`, e.g. ./test.sh --no-build
#   or ./test.sh --filter "FullyQualifiedName~Hosting".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec dotnet test Turbo.Kestrel.sln -c Release --logger "trx;LogFileName=results.trx" --results-directory TestResults "$@"
