import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import type { Disagreement, DisagreementKind, MailboxVerdict } from './verify.js';

export interface VerifySampleOptions {
  /** One mailbox compared with the CRM item by item (verify.ts). */
  readonly verify: (mailbox: string) => Promise<MailboxVerdict>;
  /** The mailboxes this instance syncs now. */
  readonly mailboxes: () => readonly string[];
  /** Mailboxes compared per round (0: none). */
  readonly perRound: number;
  readonly intervalMs: number;
  /** Changes in the log not applied yet: while there are some, a difference may be one of them. */
  readonly inFlight: () => Promise<number>;
  readonly registry?: Registry;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** A difference seen twice, an interval apart, with nothing in flight to explain it. */
export interface Divergence extends Disagreement {
  readonly mailbox: string;
  readonly since: string;
}

export interface SampleReport {
  readonly perRound: number;
  readonly intervalSeconds: number;
  /** Mailboxes compared since the start. */
  readonly checked: number;
  readonly lastCheckAt: string | null;
  readonly counts: Record<DisagreementKind, number>;
  /** At most 50, oldest first. */
  readonly divergences: readonly Divergence[];
}

/** A difference still in flight explains is no longer believed after this long. */
const IN_FLIGHT_EXCUSE_MS = 10 * 60_000;
const KINDS: readonly DisagreementKind[] = ['missing', 'stale', 'ghost', 'unlinked'];
const keyOf = (mailbox: string, d: Disagreement): string => `${mailbox}\n${d.kind}\n${d.folder}\n${d.itemId ?? ''}\n${d.crmId ?? ''}`;

/**
 * `verify` on its own, a few mailboxes a round, round robin: the service notices when the
 * two sides drift apart (a change lost on the way, a store reset behind its back) instead of
 * reporting all well. A difference is believed only when the same mailbox shows it again a
 * round later with no change left in flight (or after ten minutes of it) — a change on its
 * way looks like a difference for a moment. Mailboxes with suspected differences are
 * compared again first.
 */
export class VerifySample {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private cursor = 0;
  private checked = 0;
  private lastCheckAt: number | undefined;
  /** Seen once: when first. */
  private readonly suspects = new Map<string, { mailbox: string; at: number }>();
  private readonly confirmed = new Map<string, Divergence>();
  private readonly now: () => number;
  private readonly gauge: Gauge | undefined;
  private readonly counter: Counter | undefined;

  constructor(private readonly options: VerifySampleOptions) {
    this.now = options.now ?? Date.now;
    if (options.registry) {
      this.gauge = new Gauge({ name: 'ecs_verify_divergences', help: 'differences between a mailbox and the CRM that the background verify saw twice with nothing in flight, by kind', labelNames: ['kind'], registers: [options.registry] });
      for (const kind of KINDS) this.gauge.set({ kind }, 0);
      this.counter = new Counter({ name: 'ecs_verify_sampled_mailboxes_total', help: 'mailboxes the background verify compared with the CRM', registers: [options.registry] });
    }
  }

  start(): void {
    if (this.options.perRound <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.round().finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round: the suspected mailboxes again, then the next ones in turn. */
  async round(): Promise<void> {
    const all = [...this.options.mailboxes()].sort();
    if (!all.length) return;
    const suspected = [...new Set([...this.suspects.values(), ...this.confirmed.values()].map((s) => s.mailbox))].filter((m) => all.includes(m));
    // one place a round stays for the next in turn, so drift elsewhere is found too
    const picked = new Set(suspected.slice(0, Math.max(1, this.options.perRound - 1)));
    for (let i = 0; picked.size < Math.min(this.options.perRound, all.length) && i < all.length; i++) picked.add(all[(this.cursor + i) % all.length]);
    this.cursor = (this.cursor + this.options.perRound) % all.length;
    for (const mailbox of picked) {
      let verdict: MailboxVerdict;
      try {
        verdict = await this.options.verify(mailbox);
      } catch (err) {
        this.options.logger.debug({ event: 'verify.sample-failed', mailbox, err }, `the background verify could not compare ${mailbox}`);
        continue;
      }
      if (verdict.error) continue;
      const inFlight = await this.options.inFlight().catch(() => Number.POSITIVE_INFINITY);
      this.take(mailbox, verdict.disagreements, inFlight);
      this.checked++;
      this.counter?.inc();
      this.lastCheckAt = this.now();
    }
    this.publish();
  }

  report(): SampleReport {
    const divergences = [...this.confirmed.values()].sort((a, b) => a.since.localeCompare(b.since));
    return {
      perRound: this.options.perRound, intervalSeconds: this.options.intervalMs / 1000, checked: this.checked,
      lastCheckAt: this.lastCheckAt === undefined ? null : new Date(this.lastCheckAt).toISOString(), counts: countsOf(divergences), divergences: divergences.slice(0, 50),
    };
  }

  private take(mailbox: string, found: readonly Disagreement[], inFlight: number): void {
    const now = this.now();
    const seen = new Set<string>();
    for (const d of found) {
      const key = keyOf(mailbox, d);
      seen.add(key);
      if (this.confirmed.has(key)) continue;
      const suspect = this.suspects.get(key);
      if (!suspect) {
        this.suspects.set(key, { mailbox, at: now });
        continue;
      }
      const waited = now - suspect.at;
      if (waited < this.options.intervalMs || (inFlight > 0 && waited < IN_FLIGHT_EXCUSE_MS)) continue;
      const divergence: Divergence = { ...d, mailbox, since: new Date(suspect.at).toISOString() };
      this.confirmed.set(key, divergence);
      this.suspects.delete(key);
      this.options.logger.warn({ event: 'verify.diverged', mailbox, kind: d.kind, folder: d.folder, itemId: d.itemId, crmId: d.crmId },
        `the background verify found ${mailbox} and the CRM apart since ${divergence.since} (${d.kind} ${[d.itemId && `item ${d.itemId}`, d.crmId].filter(Boolean).join(' / ')}: ${d.detail}); \`verify ${mailbox}\` shows it, \`resync ${mailbox}\` reads the mailbox anew`);
    }
    for (const [key, s] of this.suspects) if (s.mailbox === mailbox && !seen.has(key)) this.suspects.delete(key);
    for (const [key, d] of this.confirmed) {
      if (d.mailbox !== mailbox || seen.has(key)) continue;
      this.confirmed.delete(key);
      this.options.logger.info({ event: 'verify.agrees-again', mailbox, kind: d.kind, itemId: d.itemId, crmId: d.crmId }, `${mailbox} and the CRM agree again about ${d.itemId ?? d.crmId}`);
    }
  }

  private publish(): void {
    const counts = countsOf([...this.confirmed.values()]);
    for (const kind of KINDS) this.gauge?.set({ kind }, counts[kind]);
  }
}

function countsOf(divergences: readonly Divergence[]): Record<DisagreementKind, number> {
  const counts: Record<DisagreementKind, number> = { missing: 0, stale: 0, ghost: 0, unlinked: 0 };
  for (const d of divergences) counts[d.kind]++;
  return counts;
}
