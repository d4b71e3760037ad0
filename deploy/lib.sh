# Shared by the run.sh scripts under deploy/ (sourced from the repository's
# root): a temporary folder with wsserver and wsbench built into it, the
# background processes they start stopped on exit, and a NATS server.

export PATH=$PATH:/usr/sbin

tmp=$(mktemp -d)
pids=() # background processes to stop on exit
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build builds wsserver and wsbench into $tmp.
build() {
	go build -o "$tmp/wsserver" ./cmd/wsserver
	go build -o "$tmp/wsbench" ./cmd/wsbench
}

# waitport HOST PORT waits up to 5 s for something to listen there.
waitport() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "run.sh: nothing listens on $1:$2" >&2
	exit 1
}

# start_nats starts nats-server on 127.0.0.1:$NATS_PORT and sets NATS_URL,
# unless NATS_URL names a server already.
start_nats() {
	[ -n "${NATS_URL:-}" ] && return 0
	command -v nats-server >/dev/null || { echo "run.sh: nats-server not found (apt-get install nats-server)" >&2; exit 2; }
	nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$tmp/nats.log" 2>&1 &
	pids+=($!)
	waitport 127.0.0.1 "$NATS_PORT"
	NATS_URL=nats://127.0.0.1:$NATS_PORT
}
