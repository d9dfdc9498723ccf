// Starts `exchange-crm-sync sandbox` in its own process (so its CPU and memory are its own)
// and resolves with its EWS endpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../src/ops/cli/entry.ts', import.meta.url));

/** The sandbox's Microsoft Graph endpoint as its start-up lines give it (app secret: "sandbox"). */
export interface SandboxGraph {
  readonly url: string;
  readonly authority: string;
  readonly tenant: string;
  readonly clientId: string;
  readonly caFile: string;
}

export async function startSandboxProcess(args: string[]): Promise<{ child: ChildProcess; url: string; base: string; graph: SandboxGraph }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'sandbox', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ECS_SANDBOX_CLIENT_SECRET: 'sandbox' } });
  const { url, graph } = await new Promise<{ url: string; graph: SandboxGraph }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const ews = /EWS endpoint: (\S+)/.exec(out);
      const g = /Graph: <graph url="([^"]+)" authority="([^"]+)" tenant="([^"]+)" clientId="([^"]+)" caFile="([^"]+)"\/>/.exec(out);
      if (ews && g) resolve({ url: ews[1], graph: { url: g[1], authority: g[2], tenant: g[3], clientId: g[4], caFile: g[5] } });
    });
    child.once('exit', (code) => reject(new Error(`the sandbox exited with ${code}`)));
  });
  return { child, url, base: url.replace('/EWS/Exchange.asmx', ''), graph };
}
