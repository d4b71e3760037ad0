#!/usr/bin/python3
"""Interop client for wsloop: Python's websockets library (Debian package
python3-websockets) plays the scenario of internal/interop/interop_test.go
against the server at the URL given as the only argument. For a wss:// URL
it trusts the PEM certificate in the file named by the environment variable
WSLOOP_CA (the test's own).

It prints a JSON report on stdout and exits 0 when every step passed, 1 when
some step failed (the report says which), 2 on a usage error.
"""

import asyncio
import json
import os
import ssl
import sys

import websockets

STEP_TIMEOUT = 10  # seconds for any one step

TEXT_UTF8 = "héllo wörld ✓ 😀"
TEXT_64K_MIXED = "aé€😀" * 6553 + "abcdef"
BROADCAST_TEXT = "broadcast ✓ to all"
BROADCAST_BINARY_LEN = 100000
PING_PAYLOAD = b"wsloop-ping"


def connect(url):
    """Opens a connection as the scenario does: no size limit, no pings of
    its own, and for wss:// the test's certificate trusted."""
    kw = {}
    if url.startswith("wss:") and os.environ.get("WSLOOP_CA"):
        kw["ssl"] = ssl.create_default_context(cafile=os.environ["WSLOOP_CA"])
    return websockets.connect(url, max_size=None, ping_interval=None, **kw)


def pattern(n):
    return bytes(i % 251 for i in range(n))


def kind(m):
    return "text" if isinstance(m, str) else "binary"


def describe(m):
    return "%s of %d %s" % (kind(m), len(m), "chars" if isinstance(m, str) else "bytes")


class StepFailed(Exception):
    pass


async def expect(ws, want, what):
    got = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    if kind(got) != kind(want):
        raise StepFailed("%s: got %s, want %s" % (what, describe(got), describe(want)))
    if got != want:
        raise StepFailed("%s: got a different %s (%s, want %s)" % (what, kind(got), describe(got), describe(want)))


class Report(dict):
    """The JSON report; current names the step under way, for failures."""

    def __init__(self):
        super().__init__(
            client="python websockets %s (Python %s)" % (websockets.version.version, sys.version.split()[0]),
            extensions="",
            steps=[],
            clientClose=None,
            serverClose=None,
        )
        self.current = "connect"

    def start(self, name):
        self.current = name

    def ok(self, name):
        self["steps"].append({"name": name, "result": "ok"})

    def fail(self, result):
        self["steps"].append({"name": self.current, "result": result})


async def main_connection(url, rep):
    ok = rep.ok
    rep.start("connect")
    ws = await asyncio.wait_for(connect(url), STEP_TIMEOUT)
    try:
        rep["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        ok("connect")

        for name, msg in [
            ("text-utf8", TEXT_UTF8),
            ("text-64k-mixed", TEXT_64K_MIXED),
            ("binary-all-bytes", bytes(range(256))),
            ("text-empty", ""),
            ("binary-empty", b""),
            ("binary-64k", pattern(65536)),
            ("binary-1m", pattern(1 << 20)),
        ]:
            rep.start(name)
            await asyncio.wait_for(ws.send(msg), STEP_TIMEOUT)
            await expect(ws, msg, name)
            ok(name)

        rep.start("burst-1000")
        burst = ["burst %d ✓" % i if i % 2 == 0 else ("burst %d" % i).encode() for i in range(1000)]
        for m in burst:  # all sent before any echo is read
            await asyncio.wait_for(ws.send(m), STEP_TIMEOUT)
        for i, m in enumerate(burst):
            await expect(ws, m, "burst message %d" % i)
        ok("burst-1000")

        rep.start("ping")
        # The waiter completes when the pong with the same payload arrives.
        pong = await ws.ping(PING_PAYLOAD)
        await asyncio.wait_for(pong, STEP_TIMEOUT)
        ok("ping")

        rep.start("broadcast")
        await ws.send("broadcast-me")
        await expect(ws, BROADCAST_TEXT, "broadcast text")
        await expect(ws, pattern(BROADCAST_BINARY_LEN), "broadcast binary")
        ok("broadcast")

        rep.start("client-close")
        # close() sends the close frame and waits for the server's.
        await asyncio.wait_for(ws.close(4001, "client bye"), STEP_TIMEOUT)
        if ws.close_rcvd is None:
            raise StepFailed("no close frame from the server (close code %s)" % ws.close_code)
        rep["clientClose"] = {"code": ws.close_rcvd.code, "reason": ws.close_rcvd.reason}
        ok("client-close")
    finally:
        abort(ws)


async def server_close_connection(url, rep):
    rep.start("server-close")
    ws = await asyncio.wait_for(connect(url), STEP_TIMEOUT)
    try:
        await ws.send("close-me")
        try:
            m = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
            raise StepFailed("got a %s instead of a close frame" % describe(m))
        except websockets.ConnectionClosed as e:
            if e.rcvd is None:
                raise StepFailed("connection closed without a close frame from the server: %s" % e)
            rep["serverClose"] = {"code": e.rcvd.code, "reason": e.rcvd.reason}
        # The library answers the close frame; wait until the server has
        # closed the TCP connection.
        await asyncio.wait_for(ws.wait_closed(), STEP_TIMEOUT)
        rep.ok("server-close")
    finally:
        abort(ws)


def abort(ws):
    """Drops the connection without a closing handshake (after a failure)."""
    if not ws.closed and ws.transport is not None:
        ws.transport.abort()


async def run(url):
    rep = Report()
    for conn in (main_connection, server_close_connection):
        try:
            await conn(url, rep)
        except asyncio.TimeoutError:
            rep.fail("timed out after %ds" % STEP_TIMEOUT)
        except StepFailed as e:
            rep.fail(str(e))
        except Exception as e:  # noqa: BLE001 - every failure goes into the report
            rep.fail("%s: %s" % (type(e).__name__, e))
    return rep


def main():
    if len(sys.argv) != 2:
        print("usage: [WSLOOP_CA=cert.pem] client.py ws[s]://host:port/", file=sys.stderr)
        sys.exit(2)
    rep = asyncio.run(run(sys.argv[1]))
    json.dump(rep, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    failed = [s for s in rep["steps"] if s["result"] != "ok"]
    for s in failed:
        print("FAIL %s: %s" % (s["name"], s["result"]), file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
