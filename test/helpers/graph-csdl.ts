// Microsoft's Graph v1.0 metadata (../shared/graph-api/csdl, the extract of the Outlook types)
// as a checker of JSON answers: every property an answer names is declared on its type (or a
// base type), every value has the declared shape — primitive, enum member, complex type,
// collection — and no non-nullable property is null. What the sandbox answers is held to it.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseXml, type XmlElement } from '../../src/shared/safe-xml.js';

const CSDL = fileURLToPath(new URL('../../../shared/graph-api/csdl/outlook-calendar-contacts-todo-subset.xml', import.meta.url));

/** Why a test of the Graph metadata cannot run here (the reference data is not beside the repository), or false. */
export const graphMetadataMissing: string | false = existsSync(CSDL) ? false : `Microsoft's Graph metadata not found at ${CSDL} (the project's ../shared reference data)`;

interface Declared {
  readonly type: string;
  readonly nullable: boolean;
}

interface StructuredType {
  readonly base?: string;
  readonly properties: Map<string, Declared>;
}

export class GraphMetadata {
  private readonly types = new Map<string, StructuredType>();
  private readonly enums = new Map<string, Set<string>>();

  constructor(path = CSDL) {
    const root = parseXml(readFileSync(path, 'utf8').replace(/^\uFEFF/, ''));
    const walk = (e: XmlElement): void => {
      if (e.local === 'EnumType') this.enums.set(`graph.${e.attrs.Name}`, new Set(e.children.filter((c) => c.local === 'Member').map((c) => c.attrs.Name)));
      if (e.local === 'EntityType' || e.local === 'ComplexType') {
        const properties = new Map<string, Declared>();
        for (const c of e.children) if (c.local === 'Property' || c.local === 'NavigationProperty') properties.set(c.attrs.Name, { type: c.attrs.Type, nullable: c.attrs.Nullable !== 'false' });
        this.types.set(`graph.${e.attrs.Name}`, { base: e.attrs.BaseType, properties });
      }
      for (const c of e.children) walk(c);
    };
    walk(root);
  }

  private property(type: string, name: string): Declared | undefined {
    for (let t = this.types.get(type); t; t = t.base ? this.types.get(t.base) : undefined) {
      const p = t.properties.get(name);
      if (p) return p;
    }
    return undefined;
  }

  /** What in `value` does not match `type` ("graph.event", "Collection(graph.event)"), as paths with why; empty when all does. */
  problems(value: unknown, type: string, path = '$'): string[] {
    const collection = /^Collection\((.+)\)$/.exec(type);
    if (collection) return Array.isArray(value) ? value.flatMap((v, i) => this.problems(v, collection[1], `${path}[${i}]`)) : [`${path}: not a collection (${type})`];
    if (type.startsWith('Edm.')) return primitiveProblem(value, type, path);
    const members = this.enums.get(type);
    if (members) return typeof value === 'string' && value.split(',').every((v) => members.has(v.trim())) ? [] : [`${path}: ${JSON.stringify(value)} is not a member of ${type}`];
    if (!this.types.has(type)) return [`${path}: ${type} is not in the metadata`];
    if (!value || typeof value !== 'object' || Array.isArray(value)) return [`${path}: not an object (${type})`];
    const out: string[] = [];
    for (const [name, v] of Object.entries(value)) {
      if (name.startsWith('@') || name.includes('@odata.')) continue;
      const declared = this.property(type, name);
      if (!declared) out.push(`${path}.${name}: not a property of ${type}`);
      else if (v === null) {
        if (!declared.nullable) out.push(`${path}.${name}: null, but not nullable`);
      } else out.push(...this.problems(v, declared.type, `${path}.${name}`));
    }
    return out;
  }
}

function primitiveProblem(value: unknown, type: string, path: string): string[] {
  const ok = (() => {
    switch (type) {
      case 'Edm.String': return typeof value === 'string';
      case 'Edm.Boolean': return typeof value === 'boolean';
      case 'Edm.Int32': case 'Edm.Int64': return Number.isInteger(value);
      case 'Edm.Double': return typeof value === 'number';
      case 'Edm.Date': return typeof value === 'string' && /^\d{4}-\d\d-\d\d$/.test(value);
      case 'Edm.DateTimeOffset': return typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(value);
      default: return true; // Edm.Binary, Edm.Stream …: not served
    }
  })();
  return ok ? [] : [`${path}: ${JSON.stringify(value)} is not an ${type}`];
}
