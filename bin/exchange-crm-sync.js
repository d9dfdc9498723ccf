#!/usr/bin/env node
// Runs the compiled CLI (npm install builds it through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/ops/cli/entry.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('exchange-crm-sync: not built yet; run `npm install` (or `npm run build`) first');
  process.exit(1);
}
await import(entry.href);
