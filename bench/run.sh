#!/usr/bin/env bash
# Runs the whole server comparison (see README.md): builds every server and
# wsbench, runs each scenario against each server pinned to its own CPU and
# writes results/results.{json,md} and results/chart.{svg,png}.
#
#   bench/run.sh            # every scenario, 3 runs, 10 s per timed one (over an hour)
#   bench/run.sh -quick     # a subset, 1 run, 3 s per timed one, no profiles (~5 min)
#   bench/run.sh -servers wsloop,rawtcp -scenarios echo64
set -euo pipefail
cd "$(dirname "$0")"
export COMPARE_COMMAND="bench/run.sh${*:+ $*}"
exec go run ./cmd/compare "$@"
