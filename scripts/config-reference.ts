// Prints the README's configuration reference table from the settings table (the one source).
// Usage: node --import tsx scripts/config-reference.ts
import { SETTINGS } from '../src/config/config-spec.js';
import { formatDuration } from '../src/config/duration.js';

const show = (key: string, value: unknown): string => {
  if (Array.isArray(value)) return value.length ? value.join(',') : '—';
  if (value === '') return '—';
  if (typeof value === 'number' && /interval|timeout|lifetime|refresh|shutdown/i.test(key)) return formatDuration(value);
  return String(value);
};

console.log('| element@attribute | environment | allowed | default | meaning |');
console.log('| --- | --- | --- | --- | --- |');
for (const s of SETTINGS) {
  const place = `\`${s.element}${s.attribute ? `@${s.attribute}` : ' (text)'}\``;
  console.log(`| ${place} | \`${s.env}\` | ${s.kind.describe.replace(/\|/g, '\\|')} | ${show(s.key, s.default)} | ${s.doc.replace(/\|/g, '\\|')} |`);
}
