import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { BackoffGate } from '../../../src/shared/backoff-gate.js';
import { EwsClient } from '../../../src/ews/ews-client.js';
import { ExchangeError } from '../../../src/shared/errors.js';
import { MemoryPositionStore } from '../../../src/state/position-store.js';
import { capturedLogger } from '../../helpers/captured-logger.js';
import { createSource, MutableDirectory, waitUntil } from '../../helpers/source-harness.js';

/** An "EWS server" that takes requests and answers them the given way: a byte every 200 ms, or never a word. */
async function badServer(kind: 'drip' | 'silent'): Promise<{ url: string; close: () => Promise<void> }> {
  const open = new Set<ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    req.resume();
    open.add(res);
    if (kind === 'silent') return;
    res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' });
    res.write('<?xml version="1.0" encoding="utf-8"?>');
    const t = setInterval(() => res.write(' '), 200);
    timers.add(t);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/EWS/Exchange.asmx`,
    close: async () => {
      for (const t of timers) clearInterval(t);
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Settles with what the promise gave, or says it was still waiting after `ms` (then the call had no deadline). */
async function settled<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; waiting?: true }> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<{ waiting: true }>((r) => (timer = setTimeout(() => r({ waiting: true }), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), guard]);
  } finally {
    clearTimeout(timer);
  }
}

describe('an EWS server that never finishes its answer', () => {
  it('a server that drips a byte every 200 ms: the request ends at its deadline (headers and body), with the reason and the URL', async () => {
    const server = await badServer('drip');
    const exchange = new EwsClient({
      settings: { url: server.url, user: 'svc-sync@contoso.test', passwordEnv: 'X', password: 'sandbox', impersonation: true, version: 'Exchange2016', tlsVerify: true, requestTimeoutMs: 1_500 },
      gate: new BackoffGate(), maxSockets: 4,
    });
    try {
      // an idle timer never fires here: a byte comes every 200 ms for as long as we listen
      const outcome = await settled(exchange.folderIds('user0001@contoso.test', ['calendar']), 30_000);
      assert.equal(outcome.waiting, undefined, 'still waiting after 30 s: the request has no deadline');
      const err = outcome.error;
      assert.ok(err instanceof ExchangeError, `an ExchangeError, not ${String(err)}`);
      assert.equal(err.category, 'transient');
      assert.equal(err.protocolCode, 'TIMEOUT');
      assert.match(err.message, /no answer within 1500 ms from http:\/\/127\.0\.0\.1:\d+\/EWS\/Exchange\.asmx \(the body was still coming; ews@timeout\)/);
    } finally {
      await exchange.close();
      await server.close();
    }
  });

  it('a server that never answers: the mailbox\'s log line says so in words (no answer within … from <url>), not only a code', async () => {
    const server = await badServer('silent');
    const { logger, loud } = capturedLogger();
    const { source, exchange } = createSource('stream', { url: server.url }, new MemoryPositionStore(), new MutableDirectory(['user0001@contoso.test']), { logger }, {}, { requestTimeoutMs: 1_000 });
    try {
      source.start();
      await waitUntil(() => loud().some((l) => l.mailbox === 'user0001@contoso.test'), 60_000, 'a log line about the mailbox');
      const line = loud().find((l) => l.mailbox === 'user0001@contoso.test')!;
      assert.match(String(line.msg), /^user0001@contoso\.test: (GetFolder failed for user0001@contoso\.test: )?no answer within 1000 ms from http:\/\/127\.0\.0\.1:\d+\/EWS\/Exchange\.asmx \(not even the headers; ews@timeout\) \(TIMEOUT, during [^)]+\); retrying in \d+ ms$/);
      assert.equal(line.event, 'mailbox.backing-off');
    } finally {
      await source.stop();
      await exchange.close();
      await server.close();
    }
  });
});
