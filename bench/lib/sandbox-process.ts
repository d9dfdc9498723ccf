// Starts `exchange-crm-sync sandbox` in its own process (so its CPU and memory are its own)
// and resolves with its EWS endpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../src/ops/cli/entry.ts', import.meta.url));

export async function startSandboxProcess(args: string[]): Promise<{ child: ChildProcess; url: string; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'sandbox', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /EWS endpoint: (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`the sandbox exited with ${code}`)));
  });
  return { child, url, base: url.replace('/EWS/Exchange.asmx', '') };
}
