/** Exit codes of every command, as documented in the README. */
export const EXIT = Object.freeze({
  OK: 0,
  /** Runtime failure: a dependency was unreachable, a check failed. */
  FAILURE: 1,
  /** Invalid configuration or usage. */
  INVALID: 2,
  /** A check found problems (test-mailbox, status with failed mailboxes). */
  PROBLEMS: 3,
  /** Interrupted by a second signal. */
  INTERRUPTED: 130,
});

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
