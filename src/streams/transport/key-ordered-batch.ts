/**
 * One partition's batch with the messages of different keys handled at once, each key's in
 * order (Confluent's parallel consumer calls it key ordering): a slow mailbox no longer holds
 * up the others that share its partition, nor — since kafkajs fetches again only when every
 * batch of a fetch is done — the other partitions. `handle` resolves false to stop (the
 * consumer is stopping, or lost its membership): no message is begun after that.
 *
 * `done` is told, in offset order, the offset below which every message is handled (the one
 * that may be committed); it resolves false to stop too. Resolves true when the whole batch
 * was handled.
 */
export async function handleKeyOrdered<M extends { readonly key: string; readonly offset: string }>(
  messages: readonly M[],
  run: <T>(task: () => Promise<T>) => Promise<T>,
  handle: (message: M) => Promise<boolean>,
  done: (message: M) => Promise<boolean>,
): Promise<boolean> {
  const byKey = new Map<string, number[]>();
  messages.forEach((m, i) => {
    const list = byKey.get(m.key);
    if (list) list.push(i);
    else byKey.set(m.key, [i]);
  });
  const finished = new Array<boolean>(messages.length).fill(false);
  let handledUpTo = -1;
  let stopped = false;
  /** `done` said stop: nothing more is reported. */
  let halted = false;
  // the offsets are reported one after another, never two at once
  let reporting: Promise<void> = Promise.resolve();
  const report = (): Promise<void> => {
    reporting = reporting.then(async () => {
      let next = handledUpTo;
      while (next + 1 < messages.length && finished[next + 1]) next++;
      if (next === handledUpTo || halted) return;
      handledUpTo = next;
      if (!(await done(messages[next]))) {
        halted = true;
        stopped = true;
      }
    });
    return reporting;
  };
  let failure: { err: unknown } | undefined;
  await Promise.all([...byKey.values()].map(async (indexes) => {
    try {
      for (const i of indexes) {
        if (stopped) return;
        const ok = await run(async () => (stopped ? false : handle(messages[i])));
        if (!ok) {
          stopped = true;
          return;
        }
        finished[i] = true;
        await report();
      }
    } catch (err) {
      // the others stop too, and what they had done is still reported before the error goes up
      stopped = true;
      failure ??= { err };
    }
  }));
  await reporting;
  if (failure) throw failure.err;
  return !stopped && handledUpTo === messages.length - 1;
}
