// The SuperOffice simulator in a test: started with its Swagger check when the definitions
// are beside the repository (../shared/superoffice-api), and a REST client per user.
import { startSuperOfficeSandbox, SwaggerValidator, swaggerFiles, type SuperOfficeSandbox, type SuperOfficeSandboxOptions } from '../../src/superoffice-sandbox/index.js';
import { repoRoot } from './cli.js';

const files = swaggerFiles(repoRoot);
let validator: SwaggerValidator | undefined;

/** Why the Swagger check cannot run here (undefined: it runs). */
export const swaggerMissing = files ? undefined : 'the SuperOffice Swagger files are not in ../shared/superoffice-api (set ECS_SUPEROFFICE_API_DIR)';

export async function startCheckedSuperOffice(options: SuperOfficeSandboxOptions = {}): Promise<SuperOfficeSandbox> {
  if (files && !validator) validator = SwaggerValidator.fromFiles(files);
  if (validator) validator.problems.length = 0;
  return startSuperOfficeSandbox({ validator, ...options });
}

export interface SoAnswer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- a test reads whatever JSON came back
  headers: Headers;
}

/** Calls the Web API as `user` (Basic authentication unless `authorization` is given). */
export function soClient(so: SuperOfficeSandbox, user: string, authorization?: string) {
  const auth = authorization ?? `Basic ${Buffer.from(`${user}:${so.password}`).toString('base64')}`;
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<SoAnswer> => {
    const r = await fetch(`${so.apiUrl}${path}`, {
      method, headers: { authorization: auth, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined, headers: r.headers };
  };
}
