import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';

/**
 * ews-javascript-api loads its default HTTP transport, @ewsjs/xhr, when it is loaded — and
 * with it axios and tough-cookie's public-suffix list: 33 MiB of a process's memory (measured
 * on Node 20). The sync never uses that transport (every ExchangeService gets our own XHRApi,
 * ews-http.ts), so the process entry registers, before anything loads ews-javascript-api, a
 * stand-in that loads the real module only if something asks for one of its exports.
 */
export function deferDefaultEwsTransport(): void {
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = require.resolve('@ewsjs/xhr', { paths: [dirname(require.resolve('ews-javascript-api'))] });
  } catch {
    return;
  }
  if (require.cache[path]) return;
  let real: Record<string, unknown> | undefined;
  const load = (): Record<string, unknown> => {
    if (!real) {
      delete require.cache[path];
      real = require(path) as Record<string, unknown>;
    }
    return real;
  };
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  // ews-javascript-api re-exports these classes (read as soon as it is imported from ES
  // modules): each stands in for the real class and loads it when first constructed
  const deferred = (name: string): unknown =>
    function DeferredEwsTransportClass(...args: unknown[]): unknown {
      const Real = load()[name] as new (...a: unknown[]) => unknown;
      return new Real(...args);
    };
  const standIns: Record<string, unknown> = { XhrApi: deferred('XhrApi'), NtlmProvider: deferred('NtlmProvider'), CookieProvider: deferred('CookieProvider') };
  standIn.exports = new Proxy(standIns, {
    get: (target, name) => (real ? real[name as string] : target[name as string]),
  });
  require.cache[path] = standIn;
}
