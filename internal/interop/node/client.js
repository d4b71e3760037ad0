#!/usr/bin/env node
// Interop client for wsloop: Node's ws library (pinned in package.json,
// installed with `npm ci` here) plays the scenario of
// internal/interop/interop_test.go against the server at the URL given as
// the only argument. ws offers permessage-deflate by default. For a wss://
// URL it trusts the PEM certificate in the file named by the environment
// variable WSLOOP_CA (the test's own) instead of Node's roots.
//
// It prints a JSON report on stdout and exits 0 when every step passed, 1
// when some step failed (the report says which), 2 on a usage error.
'use strict';

const fs = require('fs');
const WebSocket = require('ws');
const wsVersion = require('ws/package.json').version;

const STEP_TIMEOUT = 10000; // ms for any one step

const TEXT_UTF8 = 'héllo wörld ✓ 😀';
const TEXT_64K_MIXED = 'aé€😀'.repeat(6553) + 'abcdef';
const BROADCAST_TEXT = 'broadcast ✓ to all';
const BROADCAST_BINARY_LEN = 100000;
const PING_PAYLOAD = Buffer.from('wsloop-ping');

function pattern(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

function allBytes() {
  const b = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) b[i] = i;
  return b;
}

class StepFailed extends Error {}

// tlsOptions are ws's options for the server's certificate: ca, passed on
// to Node's tls.connect.
const tlsOptions = process.env.WSLOOP_CA ? { ca: fs.readFileSync(process.env.WSLOOP_CA) } : {};

// Conn wraps a ws client: messages, pongs and the close are queued as
// events that steps wait for, each wait bounded by STEP_TIMEOUT.
class Conn {
  constructor(url) {
    this.ws = new WebSocket(url, { maxPayload: 64 << 20, ...tlsOptions });
    this.events = [];
    this.waiter = null;
    const push = (ev) => {
      this.events.push(ev);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w();
      }
    };
    this.ws.on('open', () => push({ type: 'open' }));
    this.ws.on('message', (data, isBinary) => push({ type: 'message', data, isBinary }));
    this.ws.on('pong', (data) => push({ type: 'pong', data }));
    this.ws.on('error', (err) => push({ type: 'error', err }));
    this.ws.on('close', (code, reason) => push({ type: 'close', code, reason: reason.toString('utf8') }));
  }

  // next returns the next event, failing after STEP_TIMEOUT.
  async next(what) {
    if (this.events.length === 0) {
      let timer;
      await Promise.race([
        new Promise((resolve) => { this.waiter = resolve; }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new StepFailed(`timed out after ${STEP_TIMEOUT} ms waiting for ${what}`)), STEP_TIMEOUT);
        }),
      ]).finally(() => { clearTimeout(timer); this.waiter = null; });
    }
    return this.events.shift();
  }

  async expectEvent(type, what) {
    for (;;) {
      const ev = await this.next(what);
      if (ev.type === type) return ev;
      if (ev.type === 'error') throw new StepFailed(`${what}: error: ${ev.err.message}`);
      if (ev.type === 'close') throw new StepFailed(`${what}: connection closed with ${ev.code} ${JSON.stringify(ev.reason)}`);
      throw new StepFailed(`${what}: got ${describeEvent(ev)}`);
    }
  }

  send(data, binary) {
    return new Promise((resolve, reject) => {
      this.ws.send(data, { binary }, (err) => (err ? reject(new StepFailed(`send: ${err.message}`)) : resolve()));
    });
  }

  // expect waits for the echo of a message: same type, same content.
  async expect(want, binary, what) {
    const ev = await this.expectEvent('message', what);
    const kind = binary ? 'binary' : 'text';
    const gotKind = ev.isBinary ? 'binary' : 'text';
    if (gotKind !== kind) {
      throw new StepFailed(`${what}: got ${gotKind} of ${ev.data.length} bytes, want ${kind}`);
    }
    const wantBuf = binary ? want : Buffer.from(want, 'utf8');
    if (!ev.data.equals(wantBuf)) {
      throw new StepFailed(`${what}: got a different ${kind} message (${ev.data.length} bytes, want ${wantBuf.length})`);
    }
  }

  abort() {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

function describeEvent(ev) {
  if (ev.type === 'message') return `a ${ev.isBinary ? 'binary' : 'text'} message of ${ev.data.length} bytes`;
  return `event ${ev.type}`;
}

async function mainConnection(url, rep) {
  rep.current = 'connect';
  const c = new Conn(url);
  try {
    await c.expectEvent('open', 'the connection to open');
    rep.extensions = c.ws.extensions;
    rep.ok('connect');

    for (const [name, msg, binary] of [
      ['text-utf8', TEXT_UTF8, false],
      ['text-64k-mixed', TEXT_64K_MIXED, false],
      ['binary-all-bytes', allBytes(), true],
      ['text-empty', '', false],
      ['binary-empty', Buffer.alloc(0), true],
      ['binary-64k', pattern(65536), true],
      ['binary-1m', pattern(1 << 20), true],
    ]) {
      rep.current = name;
      await c.send(msg, binary);
      await c.expect(msg, binary, name);
      rep.ok(name);
    }

    rep.current = 'burst-1000';
    const burst = [];
    for (let i = 0; i < 1000; i++) {
      burst.push(i % 2 === 0 ? [`burst ${i} ✓`, false] : [Buffer.from(`burst ${i}`), true]);
    }
    // All sent before any echo is read.
    await Promise.all(burst.map(([m, binary]) => c.send(m, binary)));
    for (let i = 0; i < burst.length; i++) {
      await c.expect(burst[i][0], burst[i][1], `burst message ${i}`);
    }
    rep.ok('burst-1000');

    rep.current = 'ping';
    c.ws.ping(PING_PAYLOAD);
    const pong = await c.expectEvent('pong', 'the pong');
    if (!pong.data.equals(PING_PAYLOAD)) {
      throw new StepFailed(`pong payload ${JSON.stringify(pong.data.toString())}, want ${JSON.stringify(PING_PAYLOAD.toString())}`);
    }
    rep.ok('ping');

    rep.current = 'broadcast';
    await c.send('broadcast-me', false);
    await c.expect(BROADCAST_TEXT, false, 'broadcast text');
    await c.expect(pattern(BROADCAST_BINARY_LEN), true, 'broadcast binary');
    rep.ok('broadcast');

    rep.current = 'client-close';
    c.ws.close(4001, 'client bye');
    const closed = await c.expectEvent('close', 'the close frame from the server');
    // ws reports 1005 when the close frame had no code, and 1006 when there
    // was no close frame at all.
    if (closed.code === 1006) throw new StepFailed('connection closed without a close frame from the server');
    rep.clientClose = { code: closed.code, reason: closed.reason };
    rep.ok('client-close');
  } finally {
    c.abort();
  }
}

async function serverCloseConnection(url, rep) {
  rep.current = 'server-close';
  const c = new Conn(url);
  try {
    await c.expectEvent('open', 'the connection to open');
    await c.send('close-me', false);
    // ws answers the close frame and emits 'close' once the server has
    // closed the TCP connection.
    const closed = await c.expectEvent('close', 'the close frame from the server');
    if (closed.code === 1006) throw new StepFailed('connection closed without a close frame from the server');
    rep.serverClose = { code: closed.code, reason: closed.reason };
    rep.ok('server-close');
  } finally {
    c.abort();
  }
}

async function run(url) {
  const rep = {
    client: `node ws ${wsVersion} (Node ${process.version})`,
    extensions: '',
    steps: [],
    clientClose: null,
    serverClose: null,
  };
  Object.defineProperty(rep, 'current', { value: 'connect', writable: true, enumerable: false });
  Object.defineProperty(rep, 'ok', {
    value: (name) => rep.steps.push({ name, result: 'ok' }),
    enumerable: false,
  });
  for (const conn of [mainConnection, serverCloseConnection]) {
    try {
      await conn(url, rep);
    } catch (err) {
      const msg = err instanceof StepFailed ? err.message : `${err.name}: ${err.message}`;
      rep.steps.push({ name: rep.current, result: msg });
    }
  }
  return rep;
}

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: [WSLOOP_CA=cert.pem] node client.js ws[s]://host:port/\n');
    process.exit(2);
  }
  const rep = await run(process.argv[2]);
  const failed = rep.steps.filter((s) => s.result !== 'ok');
  for (const s of failed) process.stderr.write(`FAIL ${s.name}: ${s.result}\n`);
  // Exit only once stdout is flushed (it may be a pipe).
  process.stdout.write(JSON.stringify(rep) + '\n', () => process.exit(failed.length ? 1 : 0));
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(3);
});
