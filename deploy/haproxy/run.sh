#!/usr/bin/env bash
# Three wsserver instances behind HAProxy, fanning out through NATS, on one
# machine: the deployment of README.md's "Deployment behind a load
# balancer", to try by hand or to check.
#
#   deploy/haproxy/run.sh          start everything; Ctrl-C stops it
#   deploy/haproxy/run.sh check    start, check, stop: messages reach every
#                                  instance's clients exactly once, and
#                                  draining one instance under load fails
#                                  no handshake
#
# Needs Go, haproxy and nats-server (Debian: apt-get install haproxy
# nats-server). Ports: FRONT_PORT (9000) for HAProxy, BASE_PORT+1..3
# (9101-9103) for the instances, NATS_PORT (4222); or NATS_URL for a NATS
# server of your own.
set -euo pipefail
cd "$(dirname "$0")/../.."
FRONT_PORT=${FRONT_PORT:-9000}
BASE_PORT=${BASE_PORT:-9100}
NATS_PORT=${NATS_PORT:-4222}
DRAIN=${DRAIN:-3s}
DRAIN_DELAY=${DRAIN_DELAY:-500ms}
mode=${1:-run}

for bin in haproxy nats-server; do
	if [ "$bin" = nats-server ] && [ -n "${NATS_URL:-}" ]; then continue; fi
	command -v $bin >/dev/null || [ -x /usr/sbin/$bin ] || { echo "run.sh: $bin not found (apt-get install $bin)" >&2; exit 2; }
done
. deploy/lib.sh

echo "building wsserver and wsbench into $tmp"
build
start_nats

declare -A inst
for i in 1 2 3; do
	port=$((BASE_PORT + i))
	"$tmp/wsserver" -addr "127.0.0.1:$port" -mode broadcast -nats "$NATS_URL" \
		-proxy-protocol -trusted-proxies 127.0.0.1/32 \
		-drain "$DRAIN" -drain-delay "$DRAIN_DELAY" -log-level warn >"$tmp/s$i.log" 2>&1 &
	pids+=($!)
	inst[$i]=$!
	waitport 127.0.0.1 "$port"
done

sed -e "s/\${FRONT}/127.0.0.1:$FRONT_PORT/" -e "s/\${S1}/127.0.0.1:$((BASE_PORT + 1))/" \
	-e "s/\${S2}/127.0.0.1:$((BASE_PORT + 2))/" -e "s/\${S3}/127.0.0.1:$((BASE_PORT + 3))/" \
	deploy/haproxy/haproxy.cfg >"$tmp/haproxy.cfg"
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
pids+=($!)
waitport 127.0.0.1 "$FRONT_PORT"
sleep 0.5 # the first health checks

if [ "$mode" != check ]; then
	cat <<MSG
HAProxy:   http://127.0.0.1:$FRONT_PORT/ (the chat page; /room/NAME for a room), ws://127.0.0.1:$FRONT_PORT/
instances: pids ${inst[1]} ${inst[2]} ${inst[3]} on ports $((BASE_PORT + 1))-$((BASE_PORT + 3)), NATS at $NATS_URL
drain one: kill -TERM ${inst[1]}     logs: $tmp/
Ctrl-C stops everything.
MSG
	wait
	exit 0
fi

echo
echo "== 1. 300 clients through HAProxy in 10 rooms, every client publishing 20 messages:"
echo "      each must reach every member of its room, on every instance, exactly once and in order"
"$tmp/wsbench" broadcast -url "ws://127.0.0.1:$FRONT_PORT/" -conns 300 -rooms 10 -publishers all \
	-messages 20 -size 64 -src-ips 8 -max-errors 0 -quiet
echo
echo "== 2. handshakes through HAProxy for 6 s; instance 1 (pid ${inst[1]}) gets SIGTERM after 1 s:"
echo "      no handshake may fail"
"$tmp/wsbench" handshake -url "ws://127.0.0.1:$FRONT_PORT/" -conns 8 -duration 6s -max-errors 0 -quiet &
bench=$!
sleep 1
kill -TERM "${inst[1]}"
wait "${inst[1]}" && code=0 || code=$?
echo "instance 1 exited with $code"
wait $bench
[ "$code" -eq 0 ] || { echo "FAIL: instance 1 exited $code"; exit 1; }
for i in 2 3; do
	kill -0 "${inst[$i]}" || { echo "FAIL: instance $i is gone"; exit 1; }
done
grep -h "is DOWN\|is UP" "$tmp/haproxy.log" | sed 's/^/haproxy: /' || true
echo
echo "check passed"
