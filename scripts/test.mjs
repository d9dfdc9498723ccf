#!/usr/bin/env node
// `npm test`: starts what the tests need (a Kafka broker from scripts/kafka.sh if none is
// running, the machine's PostgreSQL if it is down), runs every test with node's built-in
// runner, and stops the broker again if it started it. Extra arguments select test files.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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

const selected = process.argv.slice(2);
const files = selected.length ? selected : findTests(join(root, 'test')).map((f) => relative(root, f));
// two test files at a time: most of a file's time is waiting (brokers, sandboxes, child
// processes); ECS_TEST_CONCURRENCY=1 runs them one by one
const concurrency = Number(process.env.ECS_TEST_CONCURRENCY ?? 2);
const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-force-exit', '--test-timeout=180000', '--test-reporter=spec', '--test-reporter-destination=stdout', ...files];
const child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
const stop = () => {
  if (startedKafka) spawnSync(join(root, 'scripts/kafka.sh'), ['stop'], { stdio: 'inherit', env });
};
process.on('SIGINT', () => child.kill('SIGINT'));
child.on('exit', (code, signal) => {
  stop();
  process.exit(code ?? (signal ? 1 : 0));
});
