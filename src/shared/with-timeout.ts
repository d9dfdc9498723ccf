/** Rejects with `message` when `work` has not settled within `ms` (the work itself goes on). */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  work.catch(() => undefined); // a late failure after the timeout is nobody's concern
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
