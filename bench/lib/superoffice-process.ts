// Starts `exchange-crm-sync superoffice-sandbox` in its own process (its CPU and memory its
// own) and resolves with its Web API base; a REST client per user for the benchmark's writes.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../src/ops/cli/entry.ts', import.meta.url));

export interface SuperOfficeProcess {
  child: ChildProcess;
  /** …/api/v1 */
  apiUrl: string;
  /** The simulator's base (control API under /sandbox/). */
  base: string;
  password: string;
  /** A Web API call as `user`; throws on an HTTP error. */
  call(user: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
}

export async function startSuperOfficeProcess(associates: number): Promise<SuperOfficeProcess> {
  const password = 'bench-password';
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'superoffice-sandbox', '--port', '0', '--associates', String(associates), '--password', password], { stdio: ['ignore', 'pipe', 'inherit'] });
  const apiUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /SuperOffice Web API: (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`the SuperOffice simulator exited with ${code}`)));
  });
  return {
    child, apiUrl, base: apiUrl.replace(/\/api\/v1$/, ''), password,
    async call(user, method, path, body) {
      const r = await fetch(/^https?:/.test(path) ? path : `${apiUrl}${path}`, {
        method, body: body === undefined ? undefined : JSON.stringify(body),
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${text.slice(0, 200)}`);
      return (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    },
  };
}

/** Every appointment of the simulator (ids as typed refs), read through its archive. */
export async function superOfficeRecords(so: SuperOfficeProcess): Promise<string[]> {
  const refs: string[] = [];
  let path: string | undefined = '/Appointment?$select=appointmentId&$orderBy=appointmentId';
  while (path) {
    const page = (await so.call('ecs-sync', 'GET', path)) as { value: Array<{ appointmentId: number }>; 'odata.nextLink'?: string };
    refs.push(...page.value.map((r) => `appointment:${r.appointmentId}`));
    path = page['odata.nextLink'];
  }
  return refs;
}
