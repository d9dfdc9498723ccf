/**
 * Orders acknowledgements per mailbox folder: a batch's position (SyncState) becomes
 * saveable only when every signal of that batch and of every earlier batch is acked.
 */
interface Batch {
  readonly seq: number;
  readonly position: string;
  pending: number;
}

export class PositionTracker {
  private readonly batches: Batch[] = [];
  private saving: Promise<void> = Promise.resolve();
  private nextSeq = 1;

  /** `save` gets the position and the number of the last batch it covers. */
  constructor(private readonly save: (position: string, upToBatch: number) => Promise<void>, private readonly onSaveError: (err: unknown) => void) {}

  /** The number the next batch will get. */
  get upcomingBatch(): number {
    return this.nextSeq;
  }

  /** Registers a batch of `count` signals leading to `position`; returns the ack for one signal. */
  addBatch(position: string, count: number): () => void {
    const batch: Batch = { seq: this.nextSeq++, position, pending: count };
    this.batches.push(batch);
    if (count === 0) this.flush();
    return () => {
      batch.pending--;
      if (batch.pending === 0) this.flush();
    };
  }

  /** Signals not acked yet, over all open batches. */
  get outstanding(): number {
    return this.batches.reduce((n, b) => n + Math.max(0, b.pending), 0);
  }

  /** Resolves when every save started so far has finished. */
  drained(): Promise<void> {
    return this.saving;
  }

  private flush(): void {
    let last: Batch | undefined;
    while (this.batches.length && this.batches[0].pending <= 0) last = this.batches.shift()!;
    if (last === undefined) return;
    const { position, seq } = last;
    // Saves are serialised so an older position never overwrites a newer one.
    this.saving = this.saving.then(() => this.save(position, seq)).catch(this.onSaveError);
  }
}

/** An ack that works only the first time it is called. */
export function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
