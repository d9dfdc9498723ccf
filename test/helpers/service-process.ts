import { appendFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli } from './cli.js';
import { waitUntil } from './source-harness.js';

/** `exchange-crm-sync start` in a child process, with its JSON log lines collected. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly opsUrl: string;
  readonly lines: Array<Record<string, unknown>>;
  stderr(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Writes a configuration file (the inner XML of <calendar_sync>) into a fresh folder. */
export function writeConfig(inner: string): { file: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ecs-svc-'));
  const file = join(dir, 'CalendarSyncExchange.config.xml');
  writeFileSync(file, `<?xml version="1.0" encoding="utf-8"?>\n<configuration><calendar_sync>${inner}</calendar_sync></configuration>\n`);
  return { file, dir };
}

/**
 * A configuration for a service on the real parts: the sandbox at `ewsUrl` (streaming, the
 * mailboxes from the CRM's associates), PostgreSQL and Kafka. The EWS password comes from
 * ECS_TEST_EWS_PASSWORD (pass { ECS_TEST_EWS_PASSWORD: 'sandbox' } to startServiceProcess).
 */
export function writeRealPartsConfig(o: { ewsUrl: string; serviceAccount: string; postgresUrl: string; crmSchema: string; stateSchema: string; brokers: string[]; topicPrefix: string; partitions: number; crmPollInterval: string; extra?: string }): { file: string; dir: string } {
  return writeConfig(`
    <exchange><events><advise Object="EwsStream"/></events>
      <ews url="${o.ewsUrl}" user="${o.serviceAccount}" passwordEnv="ECS_TEST_EWS_PASSWORD"/>
      <mailboxes source="crm" refresh="10s"/></exchange>
    <crm type="postgres" url="${o.postgresUrl}" schema="${o.crmSchema}" stateSchema="${o.stateSchema}" pollInterval="${o.crmPollInterval}"/>
    <transport type="kafka" brokers="${o.brokers.join(',')}" topicPrefix="${o.topicPrefix}" partitions="${o.partitions}"/>
    ${o.extra ?? ''}
    <ops listen="127.0.0.1:0"/>`);
}

export async function startServiceProcess(configFile: string, env: NodeJS.ProcessEnv = {}, cwd?: string, args: readonly string[] = []): Promise<ServiceProcess> {
  const child = spawnCli(['start', '--config', configFile, ...args], env, cwd);
  // a test that times out must not leave a service behind (it would stay in consumer groups)
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const opsUrl = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      // ECS_DEBUG_LOG_FILE: every line the service printed, kept in a file (chasing a rare failure)
      if (process.env.ECS_DEBUG_LOG_FILE) appendFileSync(process.env.ECS_DEBUG_LOG_FILE, d);
      buffered += d.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          lines.push(parsed);
          if (parsed.event === 'ops.listening') resolve(String(parsed.url));
        } catch {
          lines.push({ raw: line });
        }
      }
    });
    void exited.then((code) => reject(new Error(`the service exited early with ${code}: ${stderr}`)));
  });
  return {
    child, opsUrl, lines, stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Until the service's status shows no consumer lag three times in a row, half a second apart: nothing is on its way any more. */
export async function untilNoLag(service: ServiceProcess, timeoutMs = 60_000): Promise<void> {
  let calm = 0;
  await waitUntil(async () => {
    const status = (await (await fetch(`${service.opsUrl}/status`)).json()) as { lag: { current: Record<string, number> } };
    calm = Object.values(status.lag.current).every((n) => n === 0) ? calm + 1 : 0;
    if (calm < 3) await new Promise((r) => setTimeout(r, 500));
    return calm >= 3;
  }, timeoutMs, 'no consumer lag');
}
