#!/usr/bin/env bash
# Runs the whole server comparison (see README.md): builds every server and
# wsbench, runs each scenario against each server pinned to its own CPU and
# writes results/results.{json,md} and results/chart.{svg,png}.
#
#   bench/run.sh            # full run, 10 s per timed scenario (~15 min)
#   bench/run.sh -quick     # 3 s per timed scenario, no profile runs
#   bench/run.sh -servers wsloop,rawtcp -scenarios echo64
set -euo pipefail
cd "$(dirname "$0")"
export COMPARE_COMMAND="bench/run.sh${*:+ $*}"
exec go run ./cmd/compare "$@"
