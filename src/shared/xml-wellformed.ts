import sax from 'sax';
import { XmlSyntaxError } from './safe-xml.js';

export interface WellFormedLimits {
  /** Elements nested deeper than this are refused (a parser's recursion, memory). */
  readonly maxDepth: number;
  /** Attribute values and text runs longer than this are refused (characters). */
  readonly maxValueLength: number;
}

/**
 * What sax in strict mode lets through and XML 1.0 forbids — checked in one streaming pass,
 * with the line and column: an attribute given twice, a second root element, a DOCTYPE
 * anywhere, an XML declaration not at the very start — plus limits on nesting and value length.
 * (xml2js stops reading at the end of the root element, so the rest of the text was never seen.)
 */
export function checkWellFormed(text: string, limits: WellFormedLimits): void {
  const parser = sax.parser(true, { xmlns: false, trim: false, normalize: false, position: true });
  let depth = 0;
  let rootClosed = false;
  let sawRoot = false;
  const fail = (message: string): never => {
    throw new XmlSyntaxError(message, parser.line + 1, parser.column);
  };
  parser.onerror = (err) => fail(err.message.split('\n')[0]!);
  parser.ondoctype = () => fail('a DOCTYPE is not allowed (no DTDs, no entity declarations)');
  parser.onprocessinginstruction = (pi) => {
    if (pi.name.toLowerCase() === 'xml' && (sawRoot || parser.startTagPosition > 1 + leadingSpace(text))) fail('an XML declaration is allowed only once, at the very start of the document');
  };
  parser.onopentagstart = (tag) => {
    if (rootClosed) fail(`a second root element <${tag.name}>: a document has exactly one`);
    sawRoot = true;
    depth++;
    if (depth > limits.maxDepth) fail(`elements nested deeper than ${limits.maxDepth} levels`);
  };
  parser.onattribute = (attr) => {
    if (attr.value.length > limits.maxValueLength) fail(`the value of ${attr.name} is ${attr.value.length} characters long; at most ${limits.maxValueLength} are allowed`);
  };
  parser.onopentag = () => {
    // sax drops a repeated attribute without a word: read the names from the tag as written
    // (sax has checked its syntax, so quoted values are all that can hide a '=')
    const raw = text.slice(parser.startTagPosition - 1, parser.position);
    const names = new Set<string>();
    for (const m of raw.matchAll(/\s([^\s=/>]+)\s*=\s*(?:"[^"]*"|'[^']*')/g)) {
      if (names.has(m[1]!)) fail(`the attribute ${m[1]} is given twice`);
      names.add(m[1]!);
    }
  };
  parser.ontext = (t) => {
    if (t.length > limits.maxValueLength) fail(`a text of ${t.length} characters; at most ${limits.maxValueLength} are allowed`);
  };
  parser.onclosetag = () => {
    depth--;
    if (depth === 0) rootClosed = true;
  };
  parser.write(text).close();
}

function leadingSpace(text: string): number {
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  return bom + (/^\s*/.exec(text.slice(bom))?.[0].length ?? 0);
}
