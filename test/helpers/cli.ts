import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const entry = fileURLToPath(new URL('../../src/ops/cli/entry.ts', import.meta.url));
// An absolute loader URL, so the child may run in any working directory.
const tsxLoader = import.meta.resolve('tsx');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process (through tsx, so no build is needed). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): ChildProcess {
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ECS_') || k.startsWith('ECS_TEST_')));
  // ECS_TEST_SERVICE_LOG_LEVEL: the services a test starts log at that level (chasing a rare failure with ECS_DEBUG_LOG_FILE)
  const level = process.env.ECS_TEST_SERVICE_LOG_LEVEL ? { ECS_LOG_LEVEL: process.env.ECS_TEST_SERVICE_LOG_LEVEL } : {};
  return spawn(process.execPath, ['--import', tsxLoader, entry, ...args], { cwd, env: { ...cleanEnv, ...level, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * `verify --all` against a running service, again and again until it agrees (exit 0); its
 * output then. On time out the error carries the last disagreement.
 */
export async function verifyUntilAgreed(opsUrl: string, timeoutMs: number): Promise<string> {
  const { waitUntil } = await import('./source-harness.js');
  let last = '';
  await waitUntil(async () => {
    const r = await runCli(['verify', '--all', '--url', opsUrl]);
    last = r.stdout + r.stderr;
    return r.code === 0;
  }, timeoutMs, 'verify --all to agree').catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
  return last;
}
