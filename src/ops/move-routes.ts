import { readBody } from '../shared/read-body.js';
import { json, type Route } from './http-reply.js';
import { runMigration, type MigrationRequest, type MigrationWorld } from './migrate-to-graph.js';

/**
 * POST /moves {mailboxes, all, dryRun, batchSize}: a hybrid organisation's mailboxes moved to
 * Graph by the running sync, in batches with verify before and after (what `migrate --to graph`
 * asks of a running sync). Answers when the run is done, with its report.
 */
export function moveRoutes(world: MigrationWorld): Record<string, Route> {
  let running = false;
  return {
    '/moves': async (req, res) => {
      if (req.method !== 'POST') return json(res, 405, { error: 'moves take POST' });
      let request: MigrationRequest;
      try {
        const body = JSON.parse((await readBody(req, 1_000_000)) || '{}') as Partial<MigrationRequest>;
        const mailboxes = Array.isArray(body.mailboxes) ? body.mailboxes.filter((m): m is string => typeof m === 'string') : [];
        const batchSize = typeof body.batchSize === 'number' && Number.isInteger(body.batchSize) && body.batchSize >= 1 && body.batchSize <= 10_000 ? body.batchSize : 25;
        request = { mailboxes, all: body.all === true, dryRun: body.dryRun === true, batchSize };
      } catch {
        return json(res, 400, { error: 'the body must be JSON: {"mailboxes": [...], "all": false, "dryRun": false, "batchSize": 25}' });
      }
      if (request.all === (request.mailboxes.length > 0)) return json(res, 400, { error: 'name the mailboxes to move, or all (not both)' });
      if (running) return json(res, 409, { error: 'a move is under way; try again when it is done' });
      running = true;
      try {
        return json(res, 200, await runMigration(world, request, () => undefined));
      } finally {
        running = false;
      }
    },
  };
}
