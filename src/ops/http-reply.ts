import type { IncomingMessage, ServerResponse } from 'node:http';

/** A handler for one path of the ops server. */
export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

export const queryOf = (req: IncomingMessage): URLSearchParams => new URL(req.url ?? '/', 'http://ops').searchParams;
