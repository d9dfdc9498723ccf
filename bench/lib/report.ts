// Tables (markdown, printed and written), the JSON record and an SVG chart of latencies.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Row = Record<string, string | number>;

export function markdownTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]);
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? (Number.isNaN(v) ? '–' : v.toLocaleString('en-US')) : (v ?? ''));
  return [
    `| ${columns.join(' | ')} |`,
    `| ${columns.map((c) => (typeof rows[0][c] === 'number' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${columns.map((c) => cell(r[c])).join(' | ')} |`),
  ].join('\n');
}

export interface LatencyBar {
  label: string;
  p50Ms: number;
  p99Ms: number;
}

/** Horizontal bars of p50 and p99 on a log scale (ours in tens of ms, polling in tens of s). */
export function latencyChart(title: string, bars: readonly LatencyBar[]): string {
  const width = 760;
  const left = 230;
  const rowHeight = 34;
  const top = 40;
  const height = top + bars.length * rowHeight + 40;
  const minMs = 10;
  const maxMs = Math.max(1_000, ...bars.map((b) => b.p99Ms).filter(Number.isFinite)) * 1.2;
  const x = (ms: number): number => left + ((Math.log10(Math.max(minMs, ms)) - Math.log10(minMs)) / (Math.log10(maxMs) - Math.log10(minMs))) * (width - left - 20);
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = [10, 100, 1_000, 10_000, 100_000, 1_000_000].filter((t) => t <= maxMs);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...ticks.map((t) => `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${height - 30}" stroke="#ddd"/><text x="${x(t)}" y="${height - 14}" text-anchor="middle" fill="#555">${t >= 1000 ? `${t / 1000} s` : `${t} ms`}</text>`),
  ];
  bars.forEach((b, i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(b.label)}</text>`);
    if (Number.isFinite(b.p99Ms)) parts.push(`<rect x="${left}" y="${y + 2}" width="${Math.max(1, x(b.p99Ms) - left)}" height="12" fill="#f0a35e"><title>p99 ${b.p99Ms} ms</title></rect>`);
    if (Number.isFinite(b.p50Ms)) parts.push(`<rect x="${left}" y="${y + 15}" width="${Math.max(1, x(b.p50Ms) - left)}" height="12" fill="#4a7fc1"><title>p50 ${b.p50Ms} ms</title></rect>`);
  });
  parts.push(`<rect x="${width - 150}" y="8" width="10" height="10" fill="#4a7fc1"/><text x="${width - 135}" y="17">p50</text>`);
  parts.push(`<rect x="${width - 95}" y="8" width="10" height="10" fill="#f0a35e"/><text x="${width - 80}" y="17">p99</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

export function writeResults(dir: string, name: string, files: { json?: unknown; markdown?: string; svg?: string }): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  if (files.json !== undefined) {
    written.push(join(dir, `${name}.json`));
    writeFileSync(written[written.length - 1], `${JSON.stringify(files.json, null, 2)}\n`);
  }
  if (files.markdown !== undefined) {
    written.push(join(dir, `${name}.md`));
    writeFileSync(written[written.length - 1], files.markdown);
  }
  if (files.svg !== undefined) {
    written.push(join(dir, `${name}.svg`));
    writeFileSync(written[written.length - 1], files.svg);
  }
  return written;
}
