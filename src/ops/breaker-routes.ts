import type { ChangeHandler, DeleteBreaker } from '../handlers/index.js';
import { json, queryOf, type Route } from './http-reply.js';

/**
 * GET /deletes: the scopes whose deletes the breaker holds back; POST /deletes/release and
 * /deletes/discard ?scope=…: apply them (in their order, through the handlers) or forget
 * them, and close the breaker for that scope.
 */
export function breakerRoutes(breaker: DeleteBreaker, handlerOf: (scope: string) => ChangeHandler['handle']): Record<string, Route> {
  const act = (action: 'release' | 'discard'): Route => async (req, res) => {
    if (req.method !== 'POST') return json(res, 405, { error: `${action} takes POST` });
    const scope = (queryOf(req).get('scope') ?? '').trim();
    if (!scope) return json(res, 400, { error: 'give ?scope=exchange:<mailbox> or ?scope=crm' });
    if (!breaker.isTripped(scope) && !(await breaker.list()).some((s) => s.scope === scope)) return json(res, 404, { error: `no deletes are held back for ${scope}` });
    const n = action === 'release' ? await breaker.release(scope, handlerOf(scope)) : await breaker.discard(scope);
    return json(res, 200, { scope, [action === 'release' ? 'released' : 'discarded']: n });
  };
  return {
    '/deletes': async (_req, res) => json(res, 200, { scopes: await breaker.list() }),
    '/deletes/release': act('release'),
    '/deletes/discard': act('discard'),
  };
}
