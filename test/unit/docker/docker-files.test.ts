// No Docker engine runs here, so docker/ is checked as far as this machine allows: the YAML
// parses, every file the compose file and the Dockerfile name exists, the images are the
// ones promised, the dashboard is valid JSON that queries only metrics the service exports,
// the alert rules are there, and the compose demo's configuration is valid.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/config/index.js';
import { repoRoot } from '../../helpers/cli.js';

const docker = join(repoRoot, 'docker');
const yamlOf = (file: string): Record<string, unknown> => parse(readFileSync(join(docker, file), 'utf8')) as Record<string, unknown>;

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
}

/** Every metric name the service registers (names given to prom-client in src/). */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/name: '([a-z_]+)'/g)) names.add(m[1]);
    }
  };
  walk(join(repoRoot, 'src'));
  for (const n of ['process_resident_memory_bytes', 'up']) names.add(n); // prom-client's default metrics, Prometheus' own
  return names;
}

describe('docker/', () => {
  it('compose.yaml: Kafka (KRaft, official image), PostgreSQL, the service built from the Dockerfile, Prometheus, Grafana; every mounted file exists', () => {
    const compose = yamlOf('compose.yaml') as { services: Record<string, ComposeService> };
    const s = compose.services;
    assert.deepEqual(Object.keys(s).sort(), ['exchange-crm-sync', 'grafana', 'kafka', 'postgres', 'prometheus']);
    assert.match(s.kafka.image ?? '', /^apache\/kafka:/);
    assert.equal(s.kafka.environment?.KAFKA_PROCESS_ROLES, 'broker,controller', 'KRaft, no ZooKeeper');
    assert.match(s.postgres.image ?? '', /^postgres:/);
    assert.ok(existsSync(join(docker, s['exchange-crm-sync'].build!.context, s['exchange-crm-sync'].build!.dockerfile)));
    assert.deepEqual(Object.keys(s['exchange-crm-sync'].depends_on ?? {}).sort(), ['kafka', 'postgres']);
    for (const [name, service] of Object.entries(s)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('.')) assert.ok(existsSync(join(docker, source)), `${name} mounts ${source}, which exists`);
      }
    }
    assert.ok(!JSON.stringify(s['exchange-crm-sync'].environment).includes('password='), 'no secret written into the compose file');
  });

  it('Dockerfile: multi-stage, Node 24 (LTS), runs as a non-root user, copies only what exists', () => {
    const text = readFileSync(join(docker, 'Dockerfile'), 'utf8');
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const f of froms) assert.match(f, /^node:24[-.]/);
    const user = /^USER (\S+)/m.exec(text)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', 'a non-root user');
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of m[1].split(/\s+/).filter((p) => !p.startsWith('--'))) assert.ok(existsSync(join(repoRoot, source)), `COPY ${source}: exists`);
    }
    assert.match(text, /ENTRYPOINT \["node", "bin\/exchange-crm-sync.js"\]/);
  });

  it('Prometheus: scrapes the service and has the alert rules (lag growing for 10 minutes, mailboxes failed, DLQ not empty)', () => {
    const prometheus = yamlOf('prometheus/prometheus.yml') as { rule_files: string[]; scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    assert.deepEqual(prometheus.scrape_configs[0].static_configs[0].targets, ['exchange-crm-sync:9464']);
    const rules = (yamlOf('prometheus/alerts.yml') as { groups: Array<{ rules: Array<{ alert: string; expr: string; for: string }> }> }).groups.flatMap((g) => g.rules);
    const byName = new Map(rules.map((r) => [r.alert, r]));
    assert.equal(byName.get('ExchangeCrmSyncLagGrowing')?.for, '10m');
    assert.match(byName.get('ExchangeCrmSyncLagGrowing')!.expr, /kafka_consumergroup_lag_sum\[10m\]/);
    assert.match(byName.get('ExchangeCrmSyncMailboxesFailed')!.expr, /ecs_mailboxes\{state="failed"\}/);
    assert.match(byName.get('ExchangeCrmSyncDeadLetters')!.expr, /ecs_dlq_messages/);
    const known = exportedMetrics();
    for (const r of rules) for (const m of r.expr.matchAll(/\b([a-z_]+)(?=[{[\s)]|$)/g)) if (/_/.test(m[1]) && !['by', 'and', 'sum', 'delta'].includes(m[1])) assert.ok(known.has(m[1].replace(/_(bucket|count|sum)$/, '')) || known.has(m[1]), `${r.alert}: ${m[1]} is exported`);
  });

  it('Grafana: a provisioned datasource and a valid dashboard with lag per partition, mailboxes by state, latency and EWS errors, on exported metrics only', () => {
    const ds = yamlOf('grafana/provisioning/datasources/prometheus.yml') as { datasources: Array<{ uid: string; url: string }> };
    assert.equal(ds.datasources[0].url, 'http://prometheus:9090');
    const provider = yamlOf('grafana/provisioning/dashboards/dashboards.yml') as { providers: Array<{ options: { path: string } }> };
    assert.equal(provider.providers[0].options.path, '/var/lib/grafana/dashboards');
    const dashboard = JSON.parse(readFileSync(join(docker, 'grafana/dashboards/exchange-crm-sync.json'), 'utf8')) as { panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ expr: string }> }> };
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ['Consumer lag per partition', 'Mailboxes by state', 'End-to-end latency p50 / p99', 'EWS errors by code']) assert.ok(titles.includes(t), t);
    const known = exportedMetrics();
    for (const p of dashboard.panels) {
      assert.equal(p.datasource.uid, ds.datasources[0].uid);
      for (const t of p.targets) {
        const metrics = [...t.expr.matchAll(/\b((?:ecs|kafka|process)_[a-z_]+)/g)].map((m) => m[1].replace(/_(bucket|count|sum)$/, ''));
        assert.ok(metrics.length > 0, `${p.title} queries a metric`);
        for (const m of metrics) assert.ok(known.has(m) || known.has(`${m}_sum`), `${p.title}: ${m} is exported by the service`);
      }
    }
  });

  it("the compose demo's configuration is valid", () => {
    const { config } = loadConfig(join(docker, 'config/CalendarSyncExchange.config.xml'), {}, { requireSecrets: false });
    assert.equal(config.transport.type, 'kafka');
    assert.deepEqual(config.transport.brokers, ['kafka:9092']);
    assert.equal(config.crm.type, 'postgres');
  });
});
