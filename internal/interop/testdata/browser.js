// Interop client for wsloop run in headless Chromium: the browser's own
// WebSocket plays the scenario of internal/interop/interop_test.go. The
// test evaluates this file, an async function expression, called with the
// server's URL; it resolves to the JSON report. Chromium always offers
// permessage-deflate.
async (url) => {
  const STEP_TIMEOUT = 10000; // ms for any one step

  const TEXT_UTF8 = 'héllo wörld ✓ 😀';
  const TEXT_64K_MIXED = 'aé€😀'.repeat(6553) + 'abcdef';
  const BROADCAST_TEXT = 'broadcast ✓ to all';
  const BROADCAST_BINARY_LEN = 100000;

  const pattern = (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = i % 251;
    return b;
  };
  const allBytes = () => {
    const b = new Uint8Array(256);
    for (let i = 0; i < 256; i++) b[i] = i;
    return b;
  };
  const sameBytes = (a, b) => {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  };

  class StepFailed extends Error {}

  // Conn wraps a WebSocket: messages, errors and the close are queued as
  // events that steps wait for, each wait bounded by STEP_TIMEOUT.
  class Conn {
    constructor(url) {
      this.ws = new WebSocket(url);
      this.ws.binaryType = 'arraybuffer';
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
      this.ws.onopen = () => push({ type: 'open' });
      this.ws.onmessage = (e) => push({ type: 'message', data: e.data });
      this.ws.onerror = () => push({ type: 'error' });
      this.ws.onclose = (e) => push({ type: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean });
    }

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
      const ev = await this.next(what);
      if (ev.type === type) return ev;
      if (ev.type === 'error') {
        // The close event that follows says more.
        const more = this.events.find((e) => e.type === 'close');
        throw new StepFailed(`${what}: error event${more ? `, then close ${more.code} ${JSON.stringify(more.reason)}` : ''}`);
      }
      if (ev.type === 'close') throw new StepFailed(`${what}: connection closed with ${ev.code} ${JSON.stringify(ev.reason)}`);
      throw new StepFailed(`${what}: got ${describe(ev.data)}`);
    }

    // expect waits for the echo of a message: same type, same content.
    async expect(want, what) {
      const ev = await this.expectEvent('message', what);
      const gotText = typeof ev.data === 'string';
      const wantText = typeof want === 'string';
      if (gotText !== wantText) throw new StepFailed(`${what}: got ${describe(ev.data)}, want ${describe(want)}`);
      const same = wantText ? ev.data === want : sameBytes(new Uint8Array(ev.data), want);
      if (!same) throw new StepFailed(`${what}: got a different message (${describe(ev.data)}, want ${describe(want)})`);
    }

    // waitDrained waits until the browser has handed everything sent to
    // the network, so that timeouts measure the server, not the send queue.
    async waitDrained(what) {
      const deadline = Date.now() + STEP_TIMEOUT;
      while (this.ws.bufferedAmount > 0) {
        if (Date.now() > deadline) throw new StepFailed(`${what}: ${this.ws.bufferedAmount} bytes still unsent after ${STEP_TIMEOUT} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }

    abort() {
      if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    }
  }

  const describe = (d) => (typeof d === 'string'
    ? `text of ${d.length} UTF-16 units`
    : `binary of ${d.byteLength} bytes`);

  const rep = { client: navigator.userAgent, extensions: '', steps: [], clientClose: null, serverClose: null };
  let current = 'connect';
  const ok = (name) => rep.steps.push({ name, result: 'ok' });

  const mainConnection = async () => {
    current = 'connect';
    const c = new Conn(url);
    try {
      await c.expectEvent('open', 'the connection to open');
      rep.extensions = c.ws.extensions;
      ok('connect');

      for (const [name, msg] of [
        ['text-utf8', TEXT_UTF8],
        ['text-64k-mixed', TEXT_64K_MIXED],
        ['binary-all-bytes', allBytes()],
        ['text-empty', ''],
        ['binary-empty', new Uint8Array(0)],
        ['binary-64k', pattern(65536)],
        ['binary-1m', pattern(1 << 20)],
      ]) {
        current = name;
        c.ws.send(msg);
        await c.expect(msg, name);
        ok(name);
      }

      current = 'burst-1000';
      const burst = [];
      for (let i = 0; i < 1000; i++) {
        burst.push(i % 2 === 0 ? `burst ${i} ✓` : new TextEncoder().encode(`burst ${i}`));
      }
      for (const m of burst) c.ws.send(m); // all sent before any echo is read
      for (let i = 0; i < burst.length; i++) await c.expect(burst[i], `burst message ${i}`);
      ok('burst-1000');

      // Browsers have no API to send a ping (they answer the server's pings
      // themselves), so this step cannot run here.
      rep.steps.push({ name: 'ping', result: 'skipped: the browser WebSocket API cannot send pings' });

      current = 'broadcast';
      c.ws.send('broadcast-me');
      await c.expect(BROADCAST_TEXT, 'broadcast text');
      await c.expect(pattern(BROADCAST_BINARY_LEN), 'broadcast binary');
      ok('broadcast');

      current = 'client-close';
      await c.waitDrained('client-close');
      c.ws.close(4001, 'client bye');
      const closed = await c.expectEvent('close', 'the close frame from the server');
      // 1006: no close frame at all; 1005: a close frame without a code.
      if (closed.code === 1006) throw new StepFailed('connection closed without a close frame from the server');
      if (!closed.wasClean) throw new StepFailed(`close ${closed.code} was not clean`);
      rep.clientClose = { code: closed.code, reason: closed.reason };
      ok('client-close');
    } finally {
      c.abort();
    }
  };

  const serverCloseConnection = async () => {
    current = 'server-close';
    const c = new Conn(url);
    try {
      await c.expectEvent('open', 'the connection to open');
      c.ws.send('close-me');
      // The browser answers the close frame; the close event comes once
      // the server has closed the TCP connection.
      const closed = await c.expectEvent('close', 'the close frame from the server');
      if (closed.code === 1006) throw new StepFailed('connection closed without a close frame from the server');
      if (!closed.wasClean) throw new StepFailed(`close ${closed.code} was not clean`);
      rep.serverClose = { code: closed.code, reason: closed.reason };
      ok('server-close');
    } finally {
      c.abort();
    }
  };

  for (const conn of [mainConnection, serverCloseConnection]) {
    try {
      await conn();
    } catch (err) {
      const msg = err instanceof StepFailed ? err.message : `${err.name}: ${err.message}`;
      rep.steps.push({ name: current, result: msg });
    }
  }
  return rep;
}
