import { merge, type Observable } from 'rxjs';
import type { AdviseMode } from '../config/index.js';
import type { MailboxChangeSource, SourceStats } from './mailbox-change-source.js';
import type { MailboxRegistry } from './mailbox-registry.js';
import type { MailboxSignal } from './mailbox-signal.js';
import type { ExchangeProtocol } from './open-exchange-side.js';

/**
 * A hybrid organisation's change source: the on-premises source (EWS) and the Exchange Online
 * one (Graph), each over its share of the mailboxes, seen as one — one signal stream, one
 * registry of mailbox states; a mailbox's commands go to the source that has it.
 */
export class HybridSource implements MailboxChangeSource {
  readonly signals: Observable<MailboxSignal>;

  constructor(
    readonly mode: AdviseMode,
    private readonly sources: Readonly<Record<ExchangeProtocol, MailboxChangeSource>>,
    readonly mailboxes: MailboxRegistry,
    private readonly protocolOf: (mailbox: string) => ExchangeProtocol,
  ) {
    this.signals = merge(sources.ews.signals, sources.graph.signals);
  }

  start(): void {
    this.sources.ews.start();
    this.sources.graph.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.sources.ews.stop(), this.sources.graph.stop()]);
  }

  resync(mailbox?: string): void {
    if (mailbox === undefined) {
      this.sources.ews.resync();
      this.sources.graph.resync();
    } else this.sources[this.protocolOf(mailbox)].resync(mailbox);
  }

  snapshot(mailbox?: string): number {
    if (mailbox === undefined) return this.sources.ews.snapshot() + this.sources.graph.snapshot();
    return this.sources[this.protocolOf(mailbox)].snapshot(mailbox);
  }

  holds(mailbox: string): boolean {
    return this.sources.ews.holds(mailbox) || this.sources.graph.holds(mailbox);
  }

  /** Whether the source of one side has the mailbox now (a move waits for the old side to let go). */
  holdsOn(protocol: ExchangeProtocol, mailbox: string): boolean {
    return this.sources[protocol].holds(mailbox);
  }

  pause(mailbox: string): void {
    this.sources[this.protocolOf(mailbox)].pause(mailbox);
  }

  resume(mailbox: string): void {
    this.sources[this.protocolOf(mailbox)].resume(mailbox);
  }

  stats(): SourceStats {
    const a = this.sources.ews.stats();
    const b = this.sources.graph.stats();
    // mailboxes and initial syncs are counted in the shared registry: either source's figure is the whole
    return {
      mailboxes: a.mailboxes, connections: a.connections + b.connections, syncRuns: a.syncRuns + b.syncRuns,
      outstandingSignals: a.outstandingSignals + b.outstandingSignals, initialSyncDone: a.initialSyncDone,
      ...(a.losingSubscriptions ? { losingSubscriptions: a.losingSubscriptions } : b.losingSubscriptions ? { losingSubscriptions: b.losingSubscriptions } : {}),
    };
  }
}
