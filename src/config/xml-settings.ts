import { parseXml, XmlSyntaxError, type XmlElement } from '../shared/safe-xml.js';
import { checkWellFormed } from '../shared/xml-wellformed.js';
import { allowedElements, SETTINGS, type SettingSpec } from './config-spec.js';

/** The raw text values found in the file, by setting key, and the problems found on the way. */
export interface XmlSettings {
  values: Map<string, string>;
  /** Element paths present in the file (below calendar_sync), e.g. "exchange/ews". */
  present: Set<string>;
  problems: string[];
  /** True when the document could not be read at all (nothing else can be checked). */
  fatal: boolean;
}

const ROOT = 'configuration';
const SECTION = 'calendar_sync';

/** Element path as shown to the operator: calendar_sync/exchange/events/advise@Object. */
export function displayPath(element: string, attribute: string | null): string {
  return `${SECTION}/${element}${attribute ? `@${attribute}` : ''}`;
}

/**
 * Reads CalendarSyncExchange.config.xml strictly: every element and attribute must be one
 * the settings table knows, each element at most once (but <mailbox>), no stray text.
 * All problems are collected, not only the first.
 */
export function readXmlSettings(xmlText: string): XmlSettings {
  const result: XmlSettings = { values: new Map(), present: new Set(), problems: [], fatal: false };
  let root: XmlElement;
  try {
    // a configuration is small: nesting and value limits far above any real one
    checkWellFormed(xmlText, { maxDepth: 32, maxValueLength: 4_096 });
    root = parseXml(xmlText);
  } catch (err) {
    const e = err as XmlSyntaxError;
    result.problems.push(`malformed XML: ${e.message}`);
    result.fatal = true;
    return result;
  }
  if (root.local !== ROOT) {
    result.problems.push(`the root element is <${root.name}>; it must be <${ROOT}>`);
    result.fatal = true;
    return result;
  }
  const sections = root.children.filter((c) => c.local === SECTION);
  for (const other of root.children.filter((c) => c.local !== SECTION)) {
    result.problems.push(`${ROOT}/${other.name}: unknown element; allowed inside <${ROOT}>: ${SECTION}`);
  }
  if (sections.length === 0) {
    result.problems.push(`${ROOT}: no <${SECTION}> element; it holds all settings (it may be empty)`);
    result.fatal = true;
    return result;
  }
  if (sections.length > 1) result.problems.push(`${SECTION}: appears ${sections.length} times; allowed once`);
  checkNoText(sections[0], SECTION, result.problems);
  for (const attr of Object.keys(sections[0].attrs)) result.problems.push(`${SECTION}@${attr}: unknown attribute; <${SECTION}> takes none`);
  walk(sections[0], '', allowedElements(), result);
  return result;
}

const settingsByPlace = new Map<string, SettingSpec>(SETTINGS.map((s) => [`${s.element}@${s.attribute ?? ''}`, s]));

function walk(element: XmlElement, path: string, allowed: Map<string, Set<string>>, out: XmlSettings): void {
  const seen = new Map<string, number>();
  for (const child of element.children) {
    const childPath = path ? `${path}/${child.local}` : child.local;
    const shown = `${SECTION}/${childPath}`;
    const attrs = allowed.get(childPath);
    if (!attrs) {
      const siblings = [...allowed.keys()].filter((p) => parentOf(p) === path).map((p) => p.slice(p.lastIndexOf('/') + 1));
      out.problems.push(`${shown}: unknown element; allowed here: ${siblings.length ? siblings.join(', ') : 'none'}`);
      continue;
    }
    out.present.add(childPath);
    const textSetting = settingsByPlace.get(`${childPath}@`);
    const repeated = [...attrs].map((a) => settingsByPlace.get(`${childPath}@${a}`)).filter((spec): spec is SettingSpec => spec?.repeated === true);
    const count = (seen.get(child.local) ?? 0) + 1;
    seen.set(child.local, count);
    if (count === 2 && !textSetting && !repeated.length) out.problems.push(`${shown}: appears more than once; allowed once`);
    // each repeated element states all its attributes, so the lists stay in step
    for (const spec of repeated) if (!(spec.attribute! in child.attrs)) out.problems.push(`${shown}: needs ${repeated.map((r) => r.attribute).join(' and ')}; ${spec.attribute} is missing`);
    for (const [attr, value] of Object.entries(child.attrs)) {
      if (!attrs.has(attr)) {
        const near = [...attrs].find((a) => a.toLowerCase() === attr.toLowerCase());
        const hint = near ? ` (did you mean ${near}?)` : '';
        out.problems.push(`${shown}@${attr}: unknown attribute${hint}; allowed: ${[...attrs].join(', ') || 'none'}`);
        continue;
      }
      const setting = settingsByPlace.get(`${childPath}@${attr}`);
      if (setting?.perText) {
        const previous = out.values.get(setting.key);
        const pair = `${child.text.trim()}=${value}`;
        out.values.set(setting.key, previous === undefined ? pair : `${previous},${pair}`);
      } else if (setting?.repeated) {
        const previous = out.values.get(setting.key);
        out.values.set(setting.key, previous === undefined ? value : `${previous},${value}`);
      } else if (setting) out.values.set(setting.key, value);
    }
    if (textSetting) {
      const previous = out.values.get(textSetting.key);
      const value = child.text.trim();
      if (value === '') out.problems.push(`${shown}: is empty; write the address inside it`);
      out.values.set(textSetting.key, previous === undefined ? value : `${previous},${value}`);
    } else {
      checkNoText(child, shown, out.problems);
    }
    walk(child, childPath, allowed, out);
  }
}

function checkNoText(element: XmlElement, shown: string, problems: string[]): void {
  if (element.text.trim() !== '') {
    problems.push(`${shown}: has text ${JSON.stringify(element.text.trim().slice(0, 40))}; settings go in attributes`);
  }
}

function parentOf(path: string): string {
  return path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
}
