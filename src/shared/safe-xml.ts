import { Parser } from 'xml2js';

/**
 * XML parsing that refuses what an attacker or a mistake could smuggle in: any DOCTYPE
 * (and so any internal or external entity declaration), and references to undefined
 * entities (sax in strict mode). Results are a small namespace-aware tree.
 */
export interface XmlElement {
  /** Qualified name as written, e.g. "m:GetItem". */
  readonly name: string;
  /** Local name, e.g. "GetItem". */
  readonly local: string;
  /** Namespace URI ('' when none). */
  readonly uri: string;
  /** Attributes by local name (namespace declarations left out). */
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Concatenated character data directly inside this element, untrimmed. */
  readonly text: string;
}

export class XmlSyntaxError extends Error {
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(message: string, line?: number, column?: number) {
    super(line === undefined ? message : `line ${line}, column ${column}: ${message}`);
    this.name = 'XmlSyntaxError';
    this.line = line;
    this.column = column;
  }
}

interface Xml2jsNode {
  $?: Record<string, { value: string; local: string; uri: string; prefix: string }>;
  $$?: Xml2jsNode[];
  _?: string;
  '#name': string;
  $ns?: { local: string; uri: string };
}

interface SaxLike {
  line: number;
  column: number;
  ondoctype: (doctype: string) => void;
}

/** Parses a whole document; throws XmlSyntaxError (with line and column when known). */
export function parseXml(text: string): XmlElement {
  const parser = new Parser({
    async: false,
    strict: true,
    xmlns: true,
    explicitRoot: false,
    explicitChildren: true,
    preserveChildrenOrder: true,
    explicitCharkey: true,
    charsAsChildren: false,
    includeWhiteChars: true,
    trim: false,
    normalize: false,
  });
  const sax = (parser as unknown as { saxParser: SaxLike }).saxParser;
  let refused: XmlSyntaxError | undefined;
  sax.ondoctype = () => {
    refused ??= new XmlSyntaxError('a DOCTYPE is not allowed (no DTDs, no entity declarations)', sax.line + 1, sax.column);
  };
  let result: Xml2jsNode | undefined;
  let failure: unknown;
  parser.parseString(text, (err: unknown, value: Xml2jsNode) => {
    failure = err ?? undefined;
    result = value;
  });
  if (refused) throw refused;
  if (failure) throw toSyntaxError(failure);
  if (!result) throw new XmlSyntaxError('the document is empty');
  return convert(result, 0);
}

/** Deeper than any SOAP answer or configuration nests; the tree is built recursively. */
const MAX_DEPTH = 1_000;

function toSyntaxError(err: unknown): XmlSyntaxError {
  const message = err instanceof Error ? err.message : String(err);
  // sax: "Unexpected close tag\nLine: 4\nColumn: 9\nChar: >"
  const match = /^([\s\S]*?)\nLine: (\d+)\nColumn: (\d+)/.exec(message);
  if (match) return new XmlSyntaxError(match[1].trim().replace(/\s+/g, ' '), Number(match[2]) + 1, Number(match[3]));
  return new XmlSyntaxError(message.replace(/\s+/g, ' '));
}

function convert(node: Xml2jsNode, depth: number): XmlElement {
  if (depth > MAX_DEPTH) throw new XmlSyntaxError(`elements nested deeper than ${MAX_DEPTH} levels`);
  const attrs: Record<string, string> = {};
  for (const [qname, attr] of Object.entries(node.$ ?? {})) {
    if (qname === 'xmlns' || qname.startsWith('xmlns:')) continue;
    attrs[attr.local || qname] = attr.value;
  }
  const name = node['#name'];
  return {
    name,
    local: node.$ns?.local ?? name.slice(name.indexOf(':') + 1),
    uri: node.$ns?.uri ?? '',
    attrs,
    children: (node.$$ ?? []).map((c) => convert(c, depth + 1)),
    text: node._ ?? '',
  };
}

/** Children with this local name (any namespace). */
export function childrenNamed(element: XmlElement, local: string): XmlElement[] {
  return element.children.filter((c) => c.local === local);
}

/** The first child with this local name, if any. */
export function childNamed(element: XmlElement, local: string): XmlElement | undefined {
  return element.children.find((c) => c.local === local);
}

/** The first descendant (depth-first) with this local name, if any. */
export function descendantNamed(element: XmlElement, local: string): XmlElement | undefined {
  for (const child of element.children) {
    if (child.local === local) return child;
    const found = descendantNamed(child, local);
    if (found) return found;
  }
  return undefined;
}
