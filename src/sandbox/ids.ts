/**
 * Opaque identifiers as EWS clients see them (base64 strings), decodable by the sandbox.
 * ItemIds are stable for the life of an item; ChangeKeys change on every change.
 */
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string): string | undefined => {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, 'base64').toString('utf8');
};

export interface ItemKey {
  mailbox: number;
  item: number;
}

/**
 * Item ids are binary, as Exchange's are (a store entry id): their base64 holds '+' and '/',
 * which Graph's restId form of the same id writes as '_' and '-' — so a client that mixes the
 * two formats up meets it here too. A fixed binary head, then the readable key.
 */
const ITEM_HEAD = Buffer.from([0x00, 0x03, 0x24, 0xfb, 0xff, 0xbe]);
const binaryId = (key: string): string => Buffer.concat([ITEM_HEAD, Buffer.from(key, 'utf8')]).toString('base64');
const unbinaryId = (id: string): string | undefined => {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(id)) return undefined;
  const bytes = Buffer.from(id, 'base64');
  return bytes.subarray(0, ITEM_HEAD.length).equals(ITEM_HEAD) ? bytes.subarray(ITEM_HEAD.length).toString('utf8') : undefined;
};

export const itemIdOf = (mailbox: number, item: number): string => binaryId(`AAMkI:${mailbox}:${item}`);

export function parseItemId(id: string): ItemKey | undefined {
  const m = /^AAMkI:(\d+):(\d+)$/.exec(unbinaryId(id) ?? '');
  return m ? { mailbox: Number(m[1]), item: Number(m[2]) } : undefined;
}

export const changeKeyOf = (version: number): string => b64(`CQAAAB:${version}`);

export function parseChangeKey(key: string): number | undefined {
  const m = /^CQAAAB:(\d+)$/.exec(unb64(key) ?? '');
  return m ? Number(m[1]) : undefined;
}

export const folderIdOf = (mailbox: number, folder: string): string => b64(`AQMkF:${mailbox}:${folder}`);

export function parseFolderId(id: string): { mailbox: number; folder: string } | undefined {
  const m = /^AQMkF:(\d+):([\w.-]+)$/.exec(unb64(id) ?? '');
  return m ? { mailbox: Number(m[1]), folder: m[2] } : undefined;
}

export const folderChangeKeyOf = (mailbox: number): string => b64(`AQAAAA:${mailbox}`);

/** Watermark: the position of an event in a mailbox's event log. */
export const watermarkOf = (mailbox: number, seq: number, epoch: number): string => b64(`WM:${epoch}:${mailbox}:${seq}`);

export function parseWatermark(w: string): { mailbox: number; seq: number; epoch: number } | undefined {
  const m = /^WM:(\d+):(\d+):(\d+)$/.exec(unb64(w) ?? '');
  return m ? { epoch: Number(m[1]), mailbox: Number(m[2]), seq: Number(m[3]) } : undefined;
}

/**
 * SyncState: the folder and the change number up to which the client has everything, and
 * the sandbox instance (a state from another server's store is invalid there).
 */
export const syncStateOf = (mailbox: number, folder: string, changeNumber: number, epoch: number): string =>
  b64(`SS:${epoch}:${mailbox}:${folder}:${changeNumber}`);

export function parseSyncState(s: string): { mailbox: number; folder: string; changeNumber: number; epoch: number } | undefined {
  const m = /^SS:(\d+):(\d+):([\w.-]+):(\d+)$/.exec(unb64(s) ?? '');
  return m ? { epoch: Number(m[1]), mailbox: Number(m[2]), folder: m[3], changeNumber: Number(m[4]) } : undefined;
}

/** An occurrence of a recurring master: master item + 1-based InstanceIndex in the pattern. */
export const occurrenceIdOf = (mailbox: number, item: number, index: number): string => binaryId(`AAMkO:${mailbox}:${item}:${index}`);

export function parseOccurrenceId(id: string): (ItemKey & { index: number }) | undefined {
  const m = /^AAMkO:(\d+):(\d+):(\d+)$/.exec(unbinaryId(id) ?? '');
  return m ? { mailbox: Number(m[1]), item: Number(m[2]), index: Number(m[3]) } : undefined;
}
