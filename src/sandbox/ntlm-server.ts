import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import md4 from 'js-md4';

/**
 * The server side of NTLM (MS-NLMP) as IIS runs it for Exchange's EWS virtual directory:
 * NTLM authenticates a TCP connection, not a request. NEGOTIATE (type 1) is answered with a
 * 401 carrying a CHALLENGE (type 2) for that connection; AUTHENTICATE (type 3) on the same
 * connection is checked — NTLMv2 only, against the account's password — and from then on
 * every request on that connection is the account's. A new connection starts over.
 */
const SIGNATURE = Buffer.from('NTLMSSP\0', 'ascii');
const FLAGS = {
  UNICODE: 0x1, REQUEST_TARGET: 0x4, NTLM: 0x200, ALWAYS_SIGN: 0x8000, TARGET_TYPE_DOMAIN: 0x10000, EXTENDED_SESSION_SECURITY: 0x80000, TARGET_INFO: 0x800000,
};

interface ConnectionState {
  challenge?: Buffer;
  account?: string;
}

export type NtlmOutcome =
  /** Answer 401 with this WWW-Authenticate (the challenge). */
  | { kind: 'challenge'; header: string }
  /** The connection is authenticated as this user (domain and user as the client sent them). */
  | { kind: 'authenticated'; user: string; domain: string }
  | { kind: 'refused'; reason: string };

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

function avPairs(domain: string, computer: string): Buffer {
  const pair = (id: number, value: Buffer): Buffer => Buffer.concat([Buffer.from([id & 0xff, id >> 8, value.length & 0xff, value.length >> 8]), value]);
  return Buffer.concat([pair(2, utf16(domain.toUpperCase())), pair(1, utf16(computer.toUpperCase())), pair(4, utf16(domain.toLowerCase())), pair(3, utf16(`${computer}.${domain}`.toLowerCase())), pair(0, Buffer.alloc(0))]);
}

function field(buf: Buffer, offset: number): Buffer {
  const length = buf.readUInt16LE(offset);
  const at = buf.readUInt32LE(offset + 4);
  if (at + length > buf.length) throw new Error('a field runs past the message');
  return buf.subarray(at, at + length);
}

export class NtlmServer {
  private readonly connections = new WeakMap<Socket, ConnectionState>();

  constructor(private readonly domain: string, private readonly passwordOf: (user: string, domain: string) => string | undefined) {}

  /** The account a connection authenticated as, if it did. */
  accountOf(socket: Socket): string | undefined {
    return this.connections.get(socket)?.account;
  }

  markAuthenticated(socket: Socket, account: string): void {
    this.connections.set(socket, { account });
  }

  /** One Authorization: NTLM … (or Negotiate …) header on this connection. */
  handle(socket: Socket, token: string): NtlmOutcome {
    let msg: Buffer;
    try {
      msg = Buffer.from(token, 'base64');
    } catch {
      return { kind: 'refused', reason: 'the NTLM token is not base64' };
    }
    if (msg.length < 12 || !msg.subarray(0, 8).equals(SIGNATURE)) return { kind: 'refused', reason: 'not an NTLM message' };
    const type = msg.readUInt32LE(8);
    if (type === 1) {
      const challenge = randomBytes(8);
      this.connections.set(socket, { challenge });
      const target = utf16(this.domain.split('.')[0].toUpperCase());
      const info = avPairs(this.domain.split('.')[0], 'EXCH01');
      const flags = FLAGS.UNICODE | FLAGS.REQUEST_TARGET | FLAGS.NTLM | FLAGS.ALWAYS_SIGN | FLAGS.TARGET_TYPE_DOMAIN | FLAGS.EXTENDED_SESSION_SECURITY | FLAGS.TARGET_INFO;
      const header = Buffer.alloc(48);
      SIGNATURE.copy(header, 0);
      header.writeUInt32LE(2, 8);
      header.writeUInt16LE(target.length, 12);
      header.writeUInt16LE(target.length, 14);
      header.writeUInt32LE(48, 16);
      header.writeUInt32LE(flags, 20);
      challenge.copy(header, 24);
      header.writeUInt16LE(info.length, 40);
      header.writeUInt16LE(info.length, 42);
      header.writeUInt32LE(48 + target.length, 44);
      return { kind: 'challenge', header: `NTLM ${Buffer.concat([header, target, info]).toString('base64')}` };
    }
    if (type !== 3) return { kind: 'refused', reason: `unexpected NTLM message type ${type}` };
    const state = this.connections.get(socket);
    if (!state?.challenge) return { kind: 'refused', reason: 'AUTHENTICATE without a CHALLENGE on this connection (NTLM authenticates one TCP connection)' };
    const challenge = state.challenge;
    this.connections.delete(socket);
    try {
      const nt = field(msg, 20);
      const domain = field(msg, 28).toString('utf16le');
      const user = field(msg, 36).toString('utf16le');
      if (nt.length <= 24) return { kind: 'refused', reason: 'NTLMv1 responses are refused (LmCompatibilityLevel 5)' };
      const password = this.passwordOf(user, domain);
      if (password === undefined) return { kind: 'refused', reason: `unknown user ${domain ? `${domain}\\` : ''}${user}` };
      const ntHash = Buffer.from(md4.arrayBuffer(utf16(password)));
      const ntowfv2 = createHmac('md5', ntHash).update(utf16(user.toUpperCase() + domain)).digest();
      const proof = createHmac('md5', ntowfv2).update(Buffer.concat([challenge, nt.subarray(16)])).digest();
      if (!timingSafeEqual(proof, nt.subarray(0, 16))) return { kind: 'refused', reason: 'the NTLMv2 response does not match the password' };
      return { kind: 'authenticated', user, domain };
    } catch (err) {
      return { kind: 'refused', reason: `malformed AUTHENTICATE message (${(err as Error).message})` };
    }
  }
}
