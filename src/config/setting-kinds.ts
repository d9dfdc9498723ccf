import { withoutUrlCredentials } from '../shared/url-credentials.js';
import { formatDuration, parseDuration } from './duration.js';

/**
 * How one setting's text becomes a value and what values are allowed. `coerce` never
 * throws (text it cannot read stays text); `validate` throws a one-line message saying what
 * is allowed, which the loader prefixes with the file and element.
 */
export interface SettingKind<T> {
  readonly describe: string;
  coerce(text: string): T | string;
  validate(value: unknown): void;
}

const quote = (v: unknown): string => JSON.stringify(v);

export function oneOf<T extends string>(values: readonly T[], aliases: Record<string, T> = {}): SettingKind<T> {
  const byLower = new Map<string, T>();
  for (const v of values) byLower.set(v.toLowerCase(), v);
  for (const [alias, v] of Object.entries(aliases)) byLower.set(alias.toLowerCase(), v);
  return {
    describe: `one of ${values.join(', ')}`,
    coerce: (text) => byLower.get(text.trim().toLowerCase()) ?? text,
    validate(value) {
      if (!values.includes(value as T)) throw new Error(`${quote(value)} is not one of ${values.join(', ')}`);
    },
  };
}

export function integer(min: number, max: number, why = ''): SettingKind<number> {
  return {
    describe: `a whole number from ${min} to ${max}`,
    coerce(text) {
      const t = text.trim();
      return /^-?\d+$/.test(t) ? Number(t) : text;
    },
    validate(value) {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error(`${quote(value)} is not a whole number`);
      if (value < min || value > max) throw new Error(`${value} is out of range: allowed ${min} to ${max}${why ? ` (${why})` : ''}`);
    },
  };
}

export function number(min: number, max: number): SettingKind<number> {
  return {
    describe: `a number from ${min} to ${max}`,
    coerce(text) {
      const t = text.trim();
      return /^\d+(\.\d+)?$/.test(t) ? Number(t) : text;
    },
    validate(value) {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${quote(value)} is not a number`);
      if (value < min || value > max) throw new Error(`${value} is out of range: allowed ${min} to ${max}`);
    },
  };
}

export function duration(minMs: number, maxMs: number, why = ''): SettingKind<number> {
  const range = `${formatDuration(minMs)} to ${formatDuration(maxMs)}`;
  return {
    describe: `a duration from ${range} (e.g. 500ms, 10s, 29m, 1h)`,
    coerce: (text) => parseDuration(text) ?? text,
    validate(value) {
      if (typeof value !== 'number') throw new Error(`${quote(value)} is not a duration (write e.g. 500ms, 10s, 29m, 1h)`);
      if (value < minMs || value > maxMs) {
        throw new Error(`${formatDuration(value)} is out of range: allowed ${range}${why ? ` (${why})` : ''}`);
      }
    },
  };
}

export const boolean: SettingKind<boolean> = {
  describe: 'true or false',
  coerce(text) {
    const t = text.trim().toLowerCase();
    if (t === 'true' || t === '1' || t === 'yes') return true;
    if (t === 'false' || t === '0' || t === 'no') return false;
    return text;
  },
  validate(value) {
    if (typeof value !== 'boolean') throw new Error(`${quote(value)} is not true or false`);
  },
};

export function text(pattern?: RegExp, describe = 'text'): SettingKind<string> {
  return {
    describe,
    coerce: (t) => t.trim(),
    validate(value) {
      if (typeof value !== 'string') throw new Error(`${quote(value)} is not text`);
      if (pattern && value !== '' && !pattern.test(value)) throw new Error(`${quote(value)} is not ${describe}`);
    },
  };
}

export const envName = text(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name (letters, digits, _)');
export const email = text(/^[^\s@<>]+@[^\s@<>]+$/, 'an e-mail address');
export const identifier = text(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier (a-z, 0-9, _)');

/**
 * A URL of one of `protocols`. HTTP(S) URLs must not carry credentials (`https://user:pw@host`):
 * they would be sent as Basic authentication behind the configured mode's back and show up
 * wherever the URL is shown. Database URLs may (libpq's convention), and are redacted.
 */
export function url(protocols: readonly string[]): SettingKind<string> {
  return {
    describe: `a ${protocols.join(' or ')} URL`,
    coerce: (t) => t.trim(),
    validate(value) {
      if (typeof value !== 'string') throw new Error(`${quote(value)} is not a URL`);
      if (value === '') return;
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        throw new Error(`${quote(redactUrl(value))} is not a URL`);
      }
      if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
        throw new Error(`${quote(redactUrl(value))} must start with ${protocols.map((p) => `${p}://`).join(' or ')}`);
      }
      if ((parsed.protocol === 'https:' || parsed.protocol === 'http:') && (parsed.username !== '' || parsed.password !== '')) {
        throw new Error(`${quote(redactUrl(value))} has credentials in it, which are refused (they would be sent as Basic authentication and shown wherever the URL is): give the user in user="…" and the password in the environment variable named by passwordEnv`);
      }
    },
  };
}

/** A comma-separated list whose items are each one of `values`. */
export function listOf<T extends string>(values: readonly T[]): SettingKind<T[]> {
  return {
    describe: `a comma-separated list of ${values.join(', ')}`,
    coerce(t) {
      const items = t.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
      return items as T[];
    },
    validate(value) {
      if (!Array.isArray(value)) throw new Error(`${quote(value)} is not a list`);
      if (value.length === 0) throw new Error(`the list is empty: give at least one of ${values.join(', ')}`);
      const bad = value.filter((v) => !values.includes(v as T));
      if (bad.length) throw new Error(`${bad.map(quote).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not one of ${values.join(', ')}`);
    },
  };
}

/** Outlook category names, comma-separated (a name cannot hold a comma there either); empty: none. */
export const categoryList: SettingKind<string[]> = {
  describe: 'Outlook category names, comma-separated',
  coerce: (t) => t.split(',').map((s) => s.trim()).filter((s) => s !== ''),
  validate(value) {
    if (!Array.isArray(value)) throw new Error(`${quote(value)} is not a list of category names`);
    const bad = value.filter((v) => typeof v !== 'string' || v.length > 255);
    if (bad.length) throw new Error(`${bad.map(quote).join(', ')} is not a category name (at most 255 characters)`);
  },
};

/** Kafka bootstrap servers: "host:port,host:port". */
export const hostPortList: SettingKind<string[]> = {
  describe: 'a comma-separated list of host:port',
  coerce: (t) => t.split(',').map((s) => s.trim()).filter((s) => s !== ''),
  validate(value) {
    if (!Array.isArray(value)) throw new Error(`${quote(value)} is not a list of host:port`);
    const bad = value.filter((v) => typeof v !== 'string' || !isHostPort(v));
    if (bad.length) throw new Error(`${bad.map(quote).join(', ')} is not host:port`);
  },
};

/** Mailbox addresses from repeated <mailbox> elements, or "a@x,b@y" from the environment. */
export const emailList: SettingKind<string[]> = {
  describe: 'e-mail addresses',
  coerce: (t) => t.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''),
  validate(value) {
    if (!Array.isArray(value)) throw new Error(`${quote(value)} is not a list of e-mail addresses`);
    const bad = value.filter((v) => typeof v !== 'string' || !/^[^\s@<>,]+@[^\s@<>,]+$/.test(v));
    if (bad.length) throw new Error(`${bad.map(quote).join(', ')} is not an e-mail address`);
  },
};

/** Which ways a mailbox can be synced (the policy's first rule); the one list every layer uses. */
export const SYNC_DIRECTIONS = ['two-way', 'to-crm', 'to-exchange', 'off'] as const;
const DIRECTIONS: readonly string[] = SYNC_DIRECTIONS;

/** The fields of an appointment or task whose direction the operator may set (<sync><field name="…">). */
export const SYNCED_FIELDS = ['subject', 'body', 'location', 'time', 'attendees', 'categories', 'private', 'reminder', 'status'] as const;
/** Which way one field travels: both ways, to one side only, or not at all. */
export const FIELD_DIRECTIONS = ['two-way', 'to-crm', 'to-exchange', 'none'] as const;

/** <mailbox direction="…">address</mailbox>: "address=direction" pairs (the environment: comma-separated). */
export const mailboxDirections: SettingKind<string[]> = {
  describe: `${DIRECTIONS.join(', ')}, per <mailbox> (environment: address=direction, comma-separated)`,
  coerce: (t) => t.split(',').map((s) => s.trim()).filter((s) => s !== ''),
  validate(value) {
    if (!Array.isArray(value)) throw new Error(`${quote(value)} is not a list`);
    for (const pair of value) {
      const [address, direction] = String(pair).split('=');
      if (!direction || !DIRECTIONS.includes(direction)) throw new Error(`${quote(direction ?? '')} (for ${address}) is not one of ${DIRECTIONS.join(', ')}`);
    }
  },
};

/** One value per repeated element (<account user="…">), or "a,b" from the environment. */
export function textList(pattern: RegExp, describe: string): SettingKind<string[]> {
  return {
    describe: `${describe}, one per element (environment: comma-separated)`,
    coerce: (t) => t.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    validate(value) {
      if (!Array.isArray(value)) throw new Error(`${quote(value)} is not a list`);
      const bad = value.filter((v) => typeof v !== 'string' || !pattern.test(v));
      if (bad.length) throw new Error(`${bad.map(quote).join(', ')} is not ${describe}`);
    },
  };
}

export const hostPort: SettingKind<string> = {
  describe: 'host:port',
  coerce: (t) => t.trim(),
  validate(value) {
    if (typeof value !== 'string' || !isHostPort(value)) throw new Error(`${quote(value)} is not host:port (e.g. 127.0.0.1:9464)`);
  },
};

/** The same kind, or nothing (''). */
export function optional<T>(kind: SettingKind<T>): SettingKind<T | ''> {
  return {
    describe: `${kind.describe}, or nothing`,
    coerce: (t) => (t.trim() === '' ? '' : kind.coerce(t)),
    validate: (value) => (value === '' ? undefined : kind.validate(value)),
  };
}

function isHostPort(value: string): boolean {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[2]) >= 0 && Number(match[2]) < 65536;
}

/** A URL with any password replaced, for messages and summaries. */
export function redactUrl(value: string): string {
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '*****';
    return parsed.toString();
  } catch {
    return withoutUrlCredentials(value);
  }
}
