import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EwsError } from '../../../src/ews/ews-error.js';
import { ConfigError, CrmError, ExchangeError, exchangeErrorCategory, isRetriable, PoisonMessageError, SyncError, toSyncError, TransportError } from '../../../src/shared/errors.js';

describe('error taxonomy', () => {
  it('every error has a code, retriable and cause', () => {
    const cause = new Error('socket hang up');
    const err = new EwsError('ErrorServerBusy', 'server busy', { retriable: true, backOffMs: 2_000, cause, context: { mailbox: 'a@x' } });
    assert.equal(err.code, 'EWS_ErrorServerBusy');
    assert.equal(err.responseCode, 'ErrorServerBusy');
    assert.equal(err.retriable, true);
    assert.equal(err.backOffMs, 2_000);
    assert.equal(err.cause, cause);
    assert.equal(err.name, 'EwsError');
    assert.ok(err instanceof SyncError && err instanceof Error);
    assert.deepEqual(err.toJSON(), { name: 'EwsError', code: 'EWS_ErrorServerBusy', message: 'server busy', retriable: true, context: { mailbox: 'a@x' } });
  });

  it('defaults: transport errors retriable; config and poison never', () => {
    assert.equal(new TransportError('BROKER_DOWN', 'x').retriable, true);
    assert.equal(new TransportError('TOO_LARGE', 'x', { retriable: false }).retriable, false);
    assert.equal(new ConfigError(['a', 'b']).retriable, false);
    assert.equal(new ConfigError(['a', 'b']).message, 'a\nb');
    assert.equal(new PoisonMessageError('x', { retriable: true } as never).retriable, false);
    assert.equal(new CrmError('CONSTRAINT', 'x').retriable, false);
  });

  it('foreign errors are retriable only for network hiccups', () => {
    assert.equal(isRetriable(Object.assign(new Error('x'), { code: 'ECONNRESET' })), true);
    assert.equal(isRetriable(new TypeError('x')), false);
    assert.equal(isRetriable('a string'), false);
    const wrapped = toSyncError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
    assert.equal(wrapped.retriable, true);
    assert.equal(wrapped.code, 'UNEXPECTED');
    const same = new CrmError('X', 'y');
    assert.equal(toSyncError(same), same);
  });

  it('an Exchange error carries its category: EWS codes are mapped in src/ews, the rest of the sync reads only the category', () => {
    const cases: Array<[string, string]> = [
      ['ErrorServerBusy', 'transient'], ['ErrorInvalidSyncStateData', 'position-invalid'], ['ErrorSubscriptionNotFound', 'subscription-lost'],
      ['ErrorImpersonateUserDenied', 'mailbox-unavailable'], ['ErrorItemNotFound', 'not-found'], ['ErrorIrresolvableConflict', 'conflict'],
      ['ErrorSchemaValidation', 'permanent'], ['HTTP_503', 'transient'], ['ECONNRESET', 'transient'],
    ];
    for (const [code, category] of cases) {
      const err = new EwsError(code, 'x');
      assert.ok(err instanceof ExchangeError);
      assert.equal(err.category, category, code);
      assert.equal(err.protocolCode, code);
      assert.equal(exchangeErrorCategory(err), category);
    }
    const full = new EwsError('ErrorExceededConnectionCount', 'x', { backOffMs: 900 });
    assert.equal(full.budgetFull, 'connections');
    assert.equal(full.retryAfterMs, 900);
    assert.equal(new EwsError('ErrorServerBusy', 'x').budgetFull, undefined);
    assert.equal(exchangeErrorCategory(new TypeError('a bug in between')), 'transient');
  });
});
