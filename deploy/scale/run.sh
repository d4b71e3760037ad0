#!/usr/bin/env bash
# The 50,000-client run of README.md ("Past one process"): three wsserver
# processes share one port with SO_REUSEPORT and fan out through NATS;
# wsbench, spread over three processes of its own, connects 50,000 clients
# to that port and one of them publishes a 64-byte message a second for
# 30 s. wsbench checks that every message reaches every client exactly
# once and in order, and reports the send-to-last-receipt latency; this
# script adds the servers' memory per client.
#
#   deploy/scale/run.sh                 # 50,000 clients, 30 s
#   CONNS=20000 DURATION=10s deploy/scale/run.sh
#
# Needs Go and nats-server (Debian: apt-get install nats-server), or
# NATS_URL for a NATS server of your own. Each process stays under its own
# open-file limit (20,000 here), so 50,000 clients need three servers and
# three wsbench processes. Ports: PORT (22500) and NATS_PORT (22222).
# SERVER_GOMAXPROCS sets GOMAXPROCS (and so the workers) of each server.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS=${CONNS:-50000}
DURATION=${DURATION:-30s}
PORT=${PORT:-22500}
NATS_PORT=${NATS_PORT:-22222}
INSTANCES=${INSTANCES:-3}
PROCS=${PROCS:-3}
. deploy/lib.sh
build
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; } # KiB
start_nats
servers=()
for i in $(seq "$INSTANCES"); do
	env ${SERVER_GOMAXPROCS:+GOMAXPROCS=$SERVER_GOMAXPROCS} "$tmp/wsserver" -addr "127.0.0.1:$PORT" -reuseport -nats "$NATS_URL" -mode broadcast -log-level warn >"$tmp/s$i.log" 2>&1 &
	pids+=($!)
	servers+=($!)
done
waitport 127.0.0.1 "$PORT"
sleep 0.5
before=0
for pid in "${servers[@]}"; do before=$((before + $(rss "$pid"))); done

echo "wsbench broadcast -url ws://127.0.0.1:$PORT/ -conns $CONNS -procs $PROCS -rate 1 -duration $DURATION -size 64"
"$tmp/wsbench" broadcast -url "ws://127.0.0.1:$PORT/" -conns "$CONNS" -procs "$PROCS" -rate 1 -duration "$DURATION" \
	-size 64 -close-timeout 15s -max-errors 0 -quiet >"$tmp/bench.txt" 2>&1 &
bench=$!
# The servers' memory at its highest, how the kernel spread the clients
# (open descriptors of each server, at their highest), and the servers' CPU
# over a stretch of the publishing: from 2 s after the last client
# connected to 3 s before the end.
cpu() { # clock ticks of user and system time of the servers
	local t=0 pid
	for pid in "${servers[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
	echo $t
}
dur=${DURATION%s}
peak=0
declare -A fds
connected=
cpu0=
cpu1=
while kill -0 $bench 2>/dev/null; do
	sleep 1
	total=0
	open=0
	for pid in "${servers[@]}"; do
		total=$((total + $(rss "$pid")))
		n=$(ls "/proc/$pid/fd" | wc -l)
		open=$((open + n))
		[ "$n" -gt "${fds[$pid]:-0}" ] && fds[$pid]=$n
	done
	[ "$total" -gt "$peak" ] && peak=$total
	now=$(date +%s%N)
	if [ -z "$connected" ] && [ "$open" -ge "$CONNS" ]; then connected=$now; fi
	if [ -n "$connected" ] && [ -z "$cpu0" ] && [ $((now - connected)) -ge 2000000000 ]; then
		cpu0=$(cpu) t0=$now
	fi
	if [ -n "$cpu0" ] && [ -z "$cpu1" ] && [[ "$dur" =~ ^[0-9]+$ ]] && [ $((now - connected)) -ge $(((dur - 3) * 1000000000)) ]; then
		cpu1=$(cpu) t1=$now
	fi
done
wait $bench && code=0 || code=$?
cat "$tmp/bench.txt"
echo
for i in $(seq "$INSTANCES"); do grep -h "WARN\|ERROR" "$tmp/s$i.log" | sed "s/^/server $i: /" | head -5 || true; done
echo "open descriptors per server at most (clients + a few): ${fds[*]}"
if [ -n "$cpu1" ] && [ "$t1" -gt "$t0" ]; then
	# One message a second to every client: CONNS deliveries a second.
	ns=$(( (cpu1 - cpu0) * 1000000000 / $(getconf CLK_TCK) )) ms=$(( (t1 - t0) / 1000000 ))
	echo "servers' CPU while publishing: $(( ns * 1000 / (ms * CONNS) )) ns per delivery ($(( ns / 10000 / ms ))% of one core, all ${INSTANCES} processes together)"
fi
echo "servers' RSS: $((before / 1024)) MiB before, $((peak / 1024)) MiB at most with $CONNS clients: $(( (peak - before) * 1024 / CONNS )) B per client (all ${INSTANCES} processes, each with its own heap and runtime)"
exit $code
