import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateXML } from 'xmllint-wasm';
import { childNamed, parseXml, type XmlElement } from '../shared/safe-xml.js';
import { NS } from './namespaces.js';
import { writeElement } from './xml-writer.js';

const SCHEMA_FILES = ['ews-validate.xsd', 'xml-namespace-min.xsd', 'messages.xsd', 'types.xsd'];
/** xmllint compiles the schema once per call; documents are validated in batches. */
const BATCH = 40;

interface Collected {
  name: string;
  xml: string;
}

/**
 * Test mode: collects every request and response body element (and SOAP header element)
 * the sandbox sees, and validates them against Microsoft's published messages.xsd with
 * xmllint (a wasm build). Known, documented differences of real Exchange from the schema
 * (streaming m:Notification) are normalised first.
 */
export class SchemaValidator {
  private readonly files: Array<{ fileName: string; contents: string }>;
  private readonly collected: Collected[] = [];
  private count = 0;

  constructor(schemaDir: string) {
    this.files = SCHEMA_FILES.map((f) => ({ fileName: f, contents: readFileSync(join(schemaDir, f), 'utf8') }));
  }

  get size(): number {
    return this.collected.length;
  }

  /** Records the payloads of one SOAP message for validation. */
  collect(direction: 'request' | 'response', operation: string, soapXml: string): void {
    let doc: XmlElement;
    try {
      doc = parseXml(soapXml);
    } catch (err) {
      this.collected.push({ name: `${direction}-${operation}-${++this.count}-unparseable`, xml: `<unparseable reason="${String(err)}"/>` });
      return;
    }
    const header = childNamed(doc, 'Header');
    const body = childNamed(doc, 'Body');
    const parts = [...(header?.children ?? []), ...(body?.children ?? [])];
    for (const part of parts) {
      if (part.uri === NS.soap) continue; // soap:Fault is not covered by the EWS schema
      const normalised = normaliseKnownDifferences(part);
      const xml = writeElement(normalised).replace(/^<([\w:]+)/, `<$1 xmlns:m="${NS.m}" xmlns:t="${NS.t}"`);
      this.collected.push({ name: `${direction}-${operation}-${++this.count}-${part.local}.xml`, xml: `<?xml version="1.0"?>${xml}` });
    }
  }

  /** Validates everything collected; returns one line per problem (empty when all valid). */
  async validate(): Promise<string[]> {
    const problems: string[] = [];
    for (let i = 0; i < this.collected.length; i += BATCH) {
      const batch = this.collected.slice(i, i + BATCH);
      const result = await validateXML({
        xml: batch.map((c) => ({ fileName: c.name, contents: c.xml })),
        schema: [this.files[0]],
        preload: this.files.slice(1),
      });
      const detailed = new Set(result.errors.filter((e) => e.loc).map((e) => e.loc!.fileName));
      for (const e of result.errors) {
        // xmllint closes each invalid file with "X fails to validate"; keep it only when it is all we have
        const summaryOf = /^(.*) fails to validate$/.exec(e.message)?.[1];
        if (summaryOf !== undefined && detailed.has(summaryOf)) continue;
        problems.push(e.loc ? `${e.loc.fileName}:${e.loc.lineNumber}: ${e.message}` : e.message);
      }
    }
    return problems;
  }
}

/** Exchange sends m:Notifications/m:Notification in streaming responses; the XSD says t:Notification. */
function normaliseKnownDifferences(element: XmlElement): XmlElement {
  const children = element.children.map((c) =>
    element.local === 'Notifications' && c.local === 'Notification' ? normaliseKnownDifferences({ ...c, uri: NS.t }) : normaliseKnownDifferences(c),
  );
  return { ...element, children };
}
