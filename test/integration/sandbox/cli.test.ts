import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnCli } from '../../helpers/cli.js';
import { ews, ewsService } from '../../helpers/ews.js';

describe('exchange-crm-sync sandbox', () => {
  it('serves EWS on 127.0.0.1, runs activity, and stops on SIGINT', async () => {
    const child = spawnCli(['sandbox', '--port', '0', '--mailboxes', '50', '--activity', '20', '--password', 'pw-for-test']);
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /EWS endpoint: (http:\/\/127\.0\.0\.1:\d+\/EWS\/Exchange\.asmx)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    const folder = await ews.Folder.Bind(ewsService(url, 'user0050@contoso.test', 'pw-for-test'), ews.WellKnownFolderName.Calendar);
    assert.equal(folder.DisplayName, 'Calendar');
    await new Promise((r) => setTimeout(r, 500));
    const stats = (await (await fetch(url.replace('/EWS/Exchange.asmx', '/sandbox/stats'))).json()) as { mailboxes: number; activity: { total: number } };
    assert.equal(stats.mailboxes, 50);
    assert.ok(stats.activity.total > 0, 'the activity generator runs');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(out, /sandbox stopped/);
  });

  it('rejects bad options with exit 2', async () => {
    const child = spawnCli(['sandbox', '--mailboxes', 'lots']);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 2);
    assert.match(err, /--mailboxes takes a whole number/);
  });
});
