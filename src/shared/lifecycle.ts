import { withTimeout } from './with-timeout.js';
import type { Logger } from 'pino';

export type StopReason = 'SIGTERM' | 'SIGINT' | 'error' | 'requested';

interface Component {
  name: string;
  stop: () => Promise<void> | void;
}

export interface LifecycleOptions {
  logger: Logger;
  /** The whole shutdown must finish within this; components not done by then are abandoned. */
  shutdownTimeoutMs: number;
}

/**
 * Ordered, bounded shutdown: components stop in the reverse order they started (the
 * last thing started depends on the earlier ones), each one logged, the whole sequence
 * bounded by a deadline so a hung close never keeps the process alive.
 */
export class Lifecycle {
  private readonly components: Component[] = [];
  private stopping: Promise<boolean> | undefined;
  private readonly logger: Logger;
  private readonly shutdownTimeoutMs: number;

  constructor(options: LifecycleOptions) {
    this.logger = options.logger;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs;
  }

  /** Registers a started component; it will be stopped before everything registered earlier. */
  add(name: string, stop: () => Promise<void> | void): void {
    this.components.push({ name, stop });
  }

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  /** Stops everything once; later calls return the same promise. Resolves true if all stopped cleanly. */
  stop(reason: StopReason): Promise<boolean> {
    this.stopping ??= this.runStop(reason);
    return this.stopping;
  }

  private async runStop(reason: StopReason): Promise<boolean> {
    const deadline = Date.now() + this.shutdownTimeoutMs;
    this.logger.info({ event: 'shutdown.begin', reason, components: this.components.length }, 'shutting down');
    let clean = true;
    for (const component of [...this.components].reverse()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        this.logger.error({ event: 'shutdown.deadline', component: component.name }, 'shutdown deadline passed; abandoning the rest');
        return false;
      }
      const started = Date.now();
      const overran = `${component.name} did not stop within ${remaining} ms`;
      try {
        await withTimeout(Promise.resolve().then(component.stop), remaining, overran);
        this.logger.info({ event: 'shutdown.step', component: component.name, ms: Date.now() - started }, `stopped ${component.name}`);
      } catch (err) {
        clean = false;
        this.logger.error({ event: 'shutdown.step-failed', component: component.name, err }, `stopping ${component.name} failed`);
        // it used up the rest of the time (timers may fire a millisecond early: do not re-check the clock)
        if ((err as Error).message === overran) {
          this.logger.error({ event: 'shutdown.deadline', component: component.name }, 'shutdown deadline passed; abandoning the rest');
          return false;
        }
      }
    }
    this.logger.info({ event: 'shutdown.end', clean }, 'shutdown complete');
    return clean;
  }

  /**
   * SIGTERM/SIGINT start the shutdown and exit with 0 (clean) or 1; a second signal
   * exits at once with 130, for an operator who does not want to wait.
   */
  handleSignals(exit: (code: number) => void = (code) => process.exit(code)): () => void {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.isStopping) {
        this.logger.warn({ event: 'shutdown.forced', signal }, 'second signal: exiting now');
        exit(130);
        return;
      }
      void this.stop(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM').then((clean) => exit(clean ? 0 : 1));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    return () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    };
  }
}
