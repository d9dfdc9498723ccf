import { readFileSync } from 'node:fs';

/** The version in package.json (src/ops and dist/ops are both two levels below it). */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
