import type { XmlElement } from '../shared/safe-xml.js';
import { NS } from './namespaces.js';

import { escapeXml } from '../shared/xml-escape.js';

export { escapeXml };

/** `<t:Name attr="v">text</t:Name>`, or self-closed when there is no text. */
export function el(name: string, text?: string | number | boolean | null, attrs?: Record<string, string | number | undefined>): string {
  const a = attrs ? attributes(attrs) : '';
  if (text === undefined || text === null || text === '') return `<${name}${a}/>`;
  return `<${name}${a}>${escapeXml(String(text))}</${name}>`;
}

/** `<t:Name attr="v">…children already XML…</t:Name>`. */
export function wrap(name: string, inner: string, attrs?: Record<string, string | number | undefined>): string {
  const a = attrs ? attributes(attrs) : '';
  return inner === '' ? `<${name}${a}/>` : `<${name}${a}>${inner}</${name}>`;
}

function attributes(attrs: Record<string, string | number | undefined>): string {
  let out = '';
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) out += ` ${k}="${escapeXml(String(v))}"`;
  return out;
}

const PREFIX_BY_URI = new Map<string, string>([[NS.t, 't'], [NS.m, 'm'], [NS.soap, 'soap']]);

/**
 * Writes a parsed element back as XML with Exchange's prefixes (t: for types, m: for
 * messages). Used for complex property values the sandbox keeps as they were sent.
 */
export function writeElement(element: XmlElement, renameTo?: string): string {
  const prefix = PREFIX_BY_URI.get(element.uri);
  const name = renameTo ?? (prefix ? `${prefix}:${element.local}` : element.local);
  const inner = element.children.length ? element.children.map((c) => writeElement(c)).join('') : escapeXml(element.text);
  return wrap(name, inner, element.attrs);
}
