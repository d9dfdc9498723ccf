import { parseXml, type XmlElement } from '../shared/safe-xml.js';

/** The end of a SOAP envelope, whatever prefix the server uses (Exchange: none, or s:/soap:). */
const ENVELOPE_END = /<\/(?:[A-Za-z_][\w.-]*:)?Envelope\s*>/g;
/** A buffer this large without a complete envelope means the peer is not speaking EWS. */
const MAX_BUFFER = 16 * 1024 * 1024;

/**
 * Splits a GetStreamingEvents response — one SOAP envelope per notification batch, chunks
 * cut anywhere — into whole envelopes and parses each (safely: no DOCTYPE, no entities).
 * "</Envelope>" cannot occur inside text or attribute values unescaped, so the end tag
 * marks the end of a document.
 */
export class EnvelopeSplitter {
  private buffer = '';

  constructor(private readonly onEnvelope: (root: XmlElement) => void) {}

  /** Feeds a chunk; throws XmlSyntaxError for a malformed envelope. */
  write(chunk: string): void {
    this.buffer += chunk;
    let start = 0;
    ENVELOPE_END.lastIndex = 0;
    for (let m = ENVELOPE_END.exec(this.buffer); m; m = ENVELOPE_END.exec(this.buffer)) {
      const end = m.index + m[0].length;
      const doc = this.buffer.slice(start, end).replace(/^\s*<\?xml[^?]*\?>/, '').trim();
      start = end;
      this.onEnvelope(parseXml(doc));
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > MAX_BUFFER) throw new Error(`more than ${MAX_BUFFER} bytes without a complete SOAP envelope`);
  }

}
