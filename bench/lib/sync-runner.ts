// The benchmark's side of a sync or poller process: start it, collect what it handled,
// ask for its figures, stop it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HandledChange, SyncProcessReply, SyncStats } from './sync-protocol.js';

export class BenchProcess {
  readonly handled: HandledChange[] = [];
  private readonly waiting = new Map<number, (s: SyncStats) => void>();
  private nextId = 1;
  private exited = false;

  private constructor(readonly child: ChildProcess, readonly opsUrl: string) {
    child.on('message', (m: SyncProcessReply) => {
      if (m.type === 'handled') for (const c of m.changes) this.handled.push(c);
      else if (m.type === 'stats') {
        this.waiting.get(m.id)?.(m);
        this.waiting.delete(m.id);
      }
    });
    child.once('exit', () => (this.exited = true));
  }

  /** Forks `script` (a file in bench/lib) with tsx and waits for its ready message. */
  static async start(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<BenchProcess> {
    const file = fileURLToPath(new URL(script, import.meta.url));
    // --profile: a V8 CPU profile of each process, for `node --cpu-prof`-style analysis
    const profile = process.env.ECS_BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ECS_BENCH_PROFILE_DIR}`] : [];
    const child = fork(file, args, { execArgv: ['--import', 'tsx', ...profile], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const opsUrl = await new Promise<string>((resolve, reject) => {
      child.on('message', (m: SyncProcessReply) => m.type === 'ready' && resolve(m.opsUrl));
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
    });
    return new BenchProcess(child, opsUrl);
  }

  stats(): Promise<SyncStats> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error('the process has exited'));
      this.waiting.set(id, resolve);
      this.child.send({ type: 'stats', id });
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 40_000);
    await exited;
    clearTimeout(timer);
  }
}
