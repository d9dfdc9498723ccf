import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnCli } from '../../helpers/cli.js';

describe('exchange-crm-sync superoffice-sandbox', () => {
  it('serves the Web API on 127.0.0.1 with the users asked for, and stops on SIGINT', async () => {
    const child = spawnCli(['superoffice-sandbox', '--port', '0', '--associates', '7', '--password', 'pw-for-test']);
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /SuperOffice Web API: (http:\/\/127\.0\.0\.1:\d+\/api\/v1)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const r = await fetch(`${url}/User?$select=email`, { headers: { authorization: `Basic ${Buffer.from('user0007:pw-for-test').toString('base64')}` } });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { value: unknown[] }).value.length, 8, 'the API user and seven users');
    assert.equal((await fetch(`${url}/User`, { headers: { authorization: `Basic ${Buffer.from('user0007:sandbox').toString('base64')}` } })).status, 401, 'the password given is the one asked for');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /SuperOffice sandbox stopped/);
  });

  it('rejects bad options with exit 2', async () => {
    const child = spawnCli(['superoffice-sandbox', '--associates', 'many']);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 2);
    assert.match(err, /--associates takes a whole number/);
  });
});
