// Measures the EWS sandbox itself at scale, so benchmarks know it is not their bottleneck:
// start-up with N mailboxes × items, Subscribe throughput, streaming fan-out under activity,
// and the sandbox process's memory. Usage:
//   node --import tsx bench/sandbox-scale.ts [--mailboxes 10000] [--items 20] [--rate 500] [--seconds 20]
import { Agent, request } from 'node:http';
import { startSandboxProcess } from './lib/sandbox-process.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const mailboxes = arg('mailboxes', 10_000);
const items = arg('items', 20);
const rate = arg('rate', 500);
const seconds = arg('seconds', 20);
const perConnection = 200;

const started = Date.now();
const { child, url, base } = await startSandboxProcess(['--mailboxes', String(mailboxes), '--items-per-mailbox', String(items), '--heartbeat', '30000']);
const startupMs = Date.now() - started;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const auth = `Basic ${Buffer.from('svc-sync@contoso.test:sandbox').toString('base64')}`;
const envelope = (mailbox: string | null, body: string): string =>
  `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Header><t:RequestServerVersion Version="Exchange2016"/>${mailbox ? `<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>${mailbox}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>` : ''}</soap:Header><soap:Body>${body}</soap:Body></soap:Envelope>`;

function post(xml: string, onData?: (chunk: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: onData ? undefined : agent, headers: { 'content-type': 'text/xml', authorization: auth } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (onData ? onData(d.toString()) : (text += d.toString())));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(xml);
  });
}

const width = Math.max(4, String(mailboxes).length);
const addresses = Array.from({ length: mailboxes }, (_, i) => `user${String(i + 1).padStart(width, '0')}@contoso.test`);
const subscribeStarted = Date.now();
const ids: string[] = new Array(mailboxes);
let next = 0;
await Promise.all(Array.from({ length: 32 }, async () => {
  while (next < mailboxes) {
    const i = next++;
    const text = await post(envelope(addresses[i], '<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId Id="tasks"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType><t:EventType>MovedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>'));
    ids[i] = /<m:SubscriptionId>([^<]+)</.exec(text)![1];
  }
}));
const subscribeMs = Date.now() - subscribeStarted;

let itemEvents = 0;
const connections = Math.ceil(mailboxes / perConnection);
for (let c = 0; c < connections; c++) {
  const group = ids.slice(c * perConnection, (c + 1) * perConnection);
  void post(envelope(null, `<m:GetStreamingEvents><m:SubscriptionIds>${group.map((id) => `<t:SubscriptionId>${id}</t:SubscriptionId>`).join('')}</m:SubscriptionIds><m:ConnectionTimeout>30</m:ConnectionTimeout></m:GetStreamingEvents>`), (chunk) => {
    itemEvents += (chunk.match(/<t:(Created|Deleted|Moved)Event>|<t:ModifiedEvent><t:TimeStamp>[^<]*<\/t:TimeStamp><t:ItemId/g) ?? []).length;
  }).catch(() => undefined);
}
await new Promise((r) => setTimeout(r, 1_000));
const control = async (path: string, body?: unknown): Promise<Record<string, unknown>> =>
  (await fetch(`${base}/sandbox/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;
const before = (await control('stats')) as { activity: { total: number } };
await control('activity', { rate });
const cpuBefore = process.cpuUsage();
await new Promise((r) => setTimeout(r, seconds * 1_000));
await control('activity', { rate: 0 });
await new Promise((r) => setTimeout(r, 1_000));
const stats = (await control('stats')) as { items: number; streamingConnections: number; subscriptions: { streaming: number }; memory: { rssBytes: number }; activity: { total: number } };
const changes = stats.activity.total - before.activity.total;
const result = {
  mailboxes, items: stats.items, startupMs, subscriptions: stats.subscriptions.streaming,
  subscribePerSecond: Math.round((mailboxes / subscribeMs) * 1000),
  streamingConnections: stats.streamingConnections, changes, changesPerSecond: Math.round(changes / seconds),
  itemEventsDelivered: itemEvents, sandboxRssMiB: Math.round(stats.memory.rssBytes / 1_048_576), clientCpuMs: Math.round(process.cpuUsage(cpuBefore).user / 1000),
};
console.log(JSON.stringify(result, null, 2));
await control('drop-connections', {});
child.kill('SIGINT');
agent.destroy();
await new Promise((r) => child.once('exit', r));
