/** One check of a mailbox as the sync will use it (test-mailbox), whatever the protocol. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found, or what is missing and how to fix it. */
  detail: string;
}

/** Runs checks one after another, each failure put in the operator's words by `explain`. */
export function checkSteps(explain: (err: unknown) => string): { results: CheckResult[]; step(name: string, work: () => Promise<string>): Promise<boolean> } {
  const results: CheckResult[] = [];
  return {
    results,
    async step(name, work) {
      try {
        results.push({ name, ok: true, detail: await work() });
        return true;
      } catch (err) {
        results.push({ name, ok: false, detail: explain(err) });
        return false;
      }
    },
  };
}
