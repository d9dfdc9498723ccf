import { Socket } from 'node:net';
import { BackoffGate } from '../../src/shared/backoff-gate.js';

/** Loopback connect time a request that started before a busy answer may still need before its first write. */
const IN_FLIGHT_MS = 50;

/**
 * The back-off rule checked where it is kept — at the client: every busy answer the client got
 * (when, and until when it must wait) and every write it put on a socket to the server. A
 * write after a busy answer arrived and before its wait ended broke the rule. The server's view
 * of the same rule (when it read a request) moves with its own event-loop stalls on a busy
 * machine; the client's own clock does not.
 */
export class ClientSendAudit {
  private readonly blocks: Array<{ at: number; until: number }> = [];
  private readonly writes: number[] = [];
  private readonly originalWrite = Socket.prototype.write;

  /** A gate that records each busy answer as the client receives it. */
  readonly gate: BackoffGate;

  constructor(private readonly serverPort: number) {
    const blocks = this.blocks;
    this.gate = new (class extends BackoffGate {
      override block(ms: number): void {
        const at = Date.now();
        blocks.push({ at, until: at + ms });
        super.block(ms);
      }
    })();
    const writes = this.writes;
    const original = this.originalWrite;
    // every byte the client sends to the server goes through a socket's write (the server's own sockets have the client's port as their remote one)
    Socket.prototype.write = function (this: Socket, ...args: Parameters<Socket['write']>): boolean {
      if (this.remotePort === serverPort) writes.push(Date.now());
      return original.apply(this, args);
    } as Socket['write'];
  }

  /** Writes made while a wait the client knew of had not ended, and the worst by how much. */
  violations(): { count: number; worstMs: number; busyAnswers: number; writes: number } {
    let count = 0;
    let worstMs = 0;
    for (const w of this.writes) {
      for (const b of this.blocks) {
        // a request that had passed the gate before the answer came may still be opening its connection
        if (w > b.at + IN_FLIGHT_MS && w < b.until) {
          count++;
          worstMs = Math.max(worstMs, b.until - w);
          break;
        }
      }
    }
    return { count, worstMs, busyAnswers: this.blocks.length, writes: this.writes.length };
  }

  close(): void {
    Socket.prototype.write = this.originalWrite;
  }
}
