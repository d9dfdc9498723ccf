import { CrmError } from '../../shared/errors.js';
import type { ItemFields } from '../../shared/item-fields.js';
import type { Logger } from '../../shared/logger.js';
import {
  crmRef, parseCrmRef, type ActivityKind, type CrmActivity, type CrmAssociate, type CrmChange, type CrmChangeBatch, type CrmChangeFeed, type CrmDirectory,
  type CrmPersonLink, type CrmPort, type CrmRef, type CrmWriteOutcome, type MappedRecords,
} from '../crm-port.js';
import { entityOf, fieldsOf, kindOf, parseSoDate, type AppointmentEntity } from './appointment-fields.js';
import { decodePosition, encodePosition, type FeedPosition } from './feed-position.js';
import type { SuperOfficeHttp } from './superoffice-http.js';
import { TimeZoneLocations } from './time-zone-locations.js';
import { startWebhookReceiver, type WebhookEvent } from './webhook-receiver.js';

export interface SuperOfficeCrmOptions {
  readonly http: SuperOfficeHttp;
  /** The tenant (its Web API URL): the sync's state belongs to it. */
  readonly tenant: string;
  /** ForeignApp application and device names of the sync's stamps. */
  readonly application: string;
  readonly device: string;
  /**
   * Webhooks: where this process listens, the address SuperOffice POSTs to (one it can reach;
   * default: the listening address), and the shared secret.
   */
  readonly webhook?: { readonly url?: string; readonly listen: { readonly host: string; readonly port: number }; readonly secret: string };
  /** The sync's mapped records, to find deletes whose webhook was lost. */
  readonly mapped?: MappedRecords;
  readonly reconcileIntervalMs: number;
  /** Changes younger than this may still be committing: read again until they are older. */
  readonly settleMs: number;
  readonly logger: Logger;
  readonly onWebhook?: (outcome: 'accepted' | 'refused') => void;
}

interface ArchivePage<R> {
  value: R[];
  'odata.nextLink'?: string;
}

interface ArchiveRow {
  appointmentId: number;
  recurrenceRuleId: number;
  updatedDate: string;
  registeredDate: string;
  updatedBy: number;
  associateId: number;
}

interface PendingDelete {
  readonly seq: number;
  readonly ref: CrmRef;
  readonly mailbox: string;
  readonly time: number;
}

const STAMP_KEY = 'item';
const USERS_TTL_MS = 60_000;
const WEBHOOK_EVENTS = ['activity.created', 'activity.changed', 'activity.deleted'];

const idOf = (ref: CrmRef | null | undefined, entity: string): number | undefined => {
  const p = parseCrmRef(ref);
  return p && p.entity === entity && /^\d+$/.test(p.id) ? Number(p.id) : undefined;
};
const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;
const httpDate = (version: string): string => new Date(parseSoDate(version) ?? 0).toUTCString();

/**
 * SuperOffice CRM's Web API behind the CRM port. Changes come from the FindAppointment archive
 * polled on updatedDate — the truth, which catches whatever a webhook missed — woken at once
 * by signed webhooks; deletes, which the archive cannot show, come from `activity.deleted`
 * webhooks and from a periodic check of the mapped records against the CRM. The sync's own
 * writes are told apart by the API user's associate id (UpdatedBy), never by timing. Writes
 * are conditional: a JSON Patch that tests UpdatedDate, sent with If-Unmodified-Since.
 */
export class SuperOfficeCrm implements CrmPort, CrmChangeFeed, CrmDirectory {
  readonly name = 'superoffice';
  readonly identity: string;
  readonly description: string;
  private users = new Map<string, number>();
  private emails = new Map<number, string>();
  /** The persons that are the users themselves: an attendee who is one is a colleague, not a contact. */
  private userPersons = new Set<number>();
  private usersRead = 0;
  private readonly pending: PendingDelete[] = [];
  private deleteSeq = 0;
  /** Unsettled changes handed out with a batch position; acknowledged when that position comes back. */
  private lastBatch: { position: string; keys: string[] } | undefined;
  private readonly acked = new Map<string, number>();
  /**
   * Owners of the records the feed handed out lately: SuperOffice's delete webhook names no
   * owner, and a record deleted right after its create may not be mapped yet — its delete must
   * still follow its create into the same partition.
   */
  private readonly owners = new Map<CrmRef, string>();

  private constructor(private readonly options: SuperOfficeCrmOptions, private readonly apiAssociateId: number, private readonly zones: TimeZoneLocations) {
    this.identity = `superoffice:${options.tenant}`;
    this.description = `SuperOffice users of ${options.tenant}`;
  }

  /** Logs in (the API user's associate id tells the sync's own writes) and reads the time zone locations. */
  static async open(options: SuperOfficeCrmOptions): Promise<SuperOfficeCrm> {
    const me = await options.http.request<{ AssociateId: number }>('GET', '/User/currentAssociate');
    const zones = await options.http.request<ArchivePage<{ TZLocationID: number; TZLocationCities: string }>>('GET', '/TimeZone?$select=TZLocationID,TZLocationCities');
    const crm = new SuperOfficeCrm(options, me.body.AssociateId, new TimeZoneLocations(zones.body.value.map((z) => ({ id: z.TZLocationID, cities: z.TZLocationCities ?? '' }))));
    await crm.readUsers();
    return crm;
  }

  close(): void {
    this.options.http.close();
  }

  // ── users ──

  private async readUsers(): Promise<void> {
    const rows = await this.archive<{ associateId: number; personId: number; email: string; type: string; deleted: boolean }>('/User?$select=associateId,personId,email,type,deleted&$filter=deleted set 0');
    this.users = new Map(rows.filter((r) => r.type !== 'SystemAssociate' && r.email).map((r) => [r.email.toLowerCase(), r.associateId]));
    this.emails = new Map(rows.filter((r) => r.email).map((r) => [r.associateId, r.email]));
    this.userPersons = new Set(rows.map((r) => r.personId).filter(Boolean));
    this.usersRead = Date.now();
  }

  private async emailOf(associateId: number): Promise<string | undefined> {
    if (!this.emails.has(associateId) && Date.now() - this.usersRead > 5_000) await this.readUsers();
    return this.emails.get(associateId);
  }

  async activeAssociateEmails(): Promise<string[]> {
    await this.readUsers();
    return [...this.users.keys()];
  }

  async associateByEmail(email: string): Promise<CrmAssociate | undefined> {
    if (Date.now() - this.usersRead > USERS_TTL_MS || (!this.users.has(email.toLowerCase()) && Date.now() - this.usersRead > 5_000)) await this.readUsers();
    const id = this.users.get(email.toLowerCase());
    return id === undefined ? undefined : { ref: crmRef('associate', id), email: this.emails.get(id) ?? email };
  }

  // ── records ──

  private async entity(id: number): Promise<AppointmentEntity | undefined> {
    const r = await this.options.http.request<AppointmentEntity>('GET', `/Appointment/${id}`, undefined, { expect: [404] });
    return r.status === 404 ? undefined : r.body;
  }

  private async activityOf(e: AppointmentEntity): Promise<CrmActivity> {
    const owner = e.Associate?.AssociateId ?? 0;
    const email = await this.emailOf(owner);
    return {
      ref: crmRef('appointment', e.AppointmentId), kind: kindOf(e), owner: crmRef('associate', owner), ownerEmail: email, fields: fieldsOf(e, this.zones, email),
      version: e.UpdatedDate ?? '', writtenBySync: e.UpdatedBy?.AssociateId === this.apiAssociateId,
    };
  }

  async get(ref: CrmRef): Promise<CrmActivity | undefined> {
    const id = idOf(ref, 'appointment');
    if (id === undefined) return undefined;
    const e = await this.entity(id);
    return e ? this.activityOf(e) : undefined;
  }

  async create(owner: CrmRef, kind: ActivityKind, fields: ItemFields, stamp: string): Promise<{ ref: CrmRef; version: string }> {
    const associate = idOf(owner, 'associate');
    if (associate === undefined) throw new CrmError('NOT_AN_ASSOCIATE', `${owner} is not a SuperOffice associate`);
    if (fields.recurrence) throw new CrmError('RECURRENCE_NOT_SUPPORTED', `the SuperOffice adapter does not write recurring series yet (${fields.recurrence.rrule})`);
    const mother = idOf(fields.motherRef, 'appointment');
    const r = await this.options.http.request<AppointmentEntity>('POST', '/Appointment', { Associate: { AssociateId: associate }, ...entityOf(kind, fields, this.zones), ...(mother ? { MotherId: mother } : {}) });
    const id = r.body.AppointmentId;
    // the stamp is a second write: a crash before it leaves an unstamped record, which
    // findStamped finds again by what it holds
    await this.stamp(id, stamp);
    return { ref: crmRef('appointment', id), version: r.body.UpdatedDate ?? '' };
  }

  private async stamp(id: number, stamp: string): Promise<void> {
    const { application, device } = this.options;
    await this.options.http.request('POST', `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/default/Key`, { Key: STAMP_KEY, Value: stamp, TableName: 'appointment', RecordId: id });
  }

  private async stampedId(stamp: string): Promise<number | undefined> {
    const { application, device } = this.options;
    const r = await this.options.http.request<{ RecordId?: number }>('GET', `/ForeignApp/${encodeURIComponent(application)}/${encodeURIComponent(device)}/Key/${STAMP_KEY}/appointment?keyValue=${encodeURIComponent(stamp)}`, undefined, { expect: [404] });
    return r.status === 404 || !r.body?.RecordId ? undefined : r.body.RecordId;
  }

  async findStamped(stamp: string, expected?: { owner: CrmRef; kind: ActivityKind; fields: ItemFields }): Promise<CrmActivity | undefined> {
    const id = await this.stampedId(stamp);
    if (id !== undefined) return this.get(crmRef('appointment', id));
    if (!expected?.fields.start) return undefined;
    // created by the API user for this owner, the same title and start, and stamped by nobody
    const owner = idOf(expected.owner, 'associate');
    const rows = await this.archive<{ appointmentId: number; text: string; date: string }>(
      `/Appointment?$select=appointmentId,text,date&$filter=${encodeURIComponent(`associateId equals ${owner} and registeredBy equals ${this.apiAssociateId} and text is ${quote(expected.fields.subject ?? '')}`)}&$orderBy=appointmentId`);
    const start = Date.parse(expected.fields.start);
    for (const row of rows.filter((r) => parseSoDate(r.date) === start)) {
      const keys = await this.options.http.request<Record<string, string>>('GET', `/Appointment/${row.appointmentId}/ForeignKey`, undefined, { expect: [404] });
      if (keys.status === 404 || Object.keys(keys.body ?? {}).some((k) => k.startsWith(`${this.options.application}.${this.options.device}.`))) continue;
      await this.stamp(row.appointmentId, stamp);
      return this.get(crmRef('appointment', row.appointmentId));
    }
    return undefined;
  }

  async update(ref: CrmRef, fields: ItemFields, ifVersion?: string): Promise<CrmWriteOutcome> {
    const id = idOf(ref, 'appointment');
    if (id === undefined) return { status: 'missing' };
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.entity(id);
      if (!current) return { status: 'missing' };
      if (ifVersion !== undefined && current.UpdatedDate !== ifVersion) return { status: 'conflict', current: await this.activityOf(current) };
      if (fields.recurrence || current.Recurrence?.IsRecurrence) throw new CrmError('RECURRENCE_NOT_SUPPORTED', `the SuperOffice adapter does not write recurring series yet (${ref})`);
      const values = entityOf(kindOf(current), fields, this.zones);
      const patch = [{ op: 'test', path: '/UpdatedDate', value: current.UpdatedDate }, ...Object.entries(values).map(([k, v]) => ({ op: 'replace', path: `/${k}`, value: v }))];
      const r = await this.options.http.request<AppointmentEntity>('PATCH', `/Appointment/${id}`, patch, { expect: [404, 409, 412], headers: { 'if-unmodified-since': httpDate(current.UpdatedDate ?? '') } });
      if (r.status === 404) return { status: 'missing' };
      if (r.status === 200) return { status: 'written', version: r.body.UpdatedDate ?? '' };
      // changed between our read and our write: read it again
      if (ifVersion !== undefined) {
        const now = await this.entity(id);
        return now ? { status: 'conflict', current: await this.activityOf(now) } : { status: 'missing' };
      }
    }
    throw new CrmError('CHANGED_WHILE_WRITTEN', `${ref} kept changing while the sync wrote it`, { retriable: true });
  }

  async delete(ref: CrmRef): Promise<boolean> {
    const id = idOf(ref, 'appointment');
    if (id === undefined) return false;
    const r = await this.options.http.request('DELETE', `/Appointment/${id}`, undefined, { expect: [404] });
    return r.status !== 404;
  }

  async exceptions(): Promise<Map<string, CrmActivity>> {
    return new Map(); // series are not written yet: no exceptions
  }

  async setMother(ref: CrmRef, motherRef: CrmRef): Promise<string | undefined> {
    const id = idOf(ref, 'appointment');
    const mother = idOf(motherRef, 'appointment');
    if (id === undefined || mother === undefined) return undefined;
    const r = await this.options.http.request<AppointmentEntity>('PATCH', `/Appointment/${id}`, [{ op: 'replace', path: '/MotherId', value: mother }], { expect: [404] });
    return r.status === 404 ? undefined : (r.body.UpdatedDate ?? undefined);
  }

  async personByEmail(emails: readonly string[]): Promise<CrmPersonLink | undefined> {
    for (const email of emails) {
      if (this.users.has(email.toLowerCase())) continue; // a colleague: not a person to link
      const rows = await this.archive<{ personId: number; contactId: number }>(`/Person?$select=personId,contactId&$filter=${encodeURIComponent(`email is ${quote(email)}`)}&$orderBy=personId`);
      const person = rows.find((r) => !this.userPersons.has(r.personId));
      if (person) return { personRef: crmRef('person', person.personId), contactRef: person.contactId ? crmRef('contact', person.contactId) : null };
    }
    return undefined;
  }

  compareVersions(a: string, b: string): number {
    return (parseSoDate(a) ?? 0) - (parseSoDate(b) ?? 0);
  }

  /** Every row of an archive query, following odata.nextLink (at most `limit` rows). */
  private async archive<R>(path: string, limit = Number.POSITIVE_INFINITY): Promise<R[]> {
    const out: R[] = [];
    let next: string | undefined = path;
    while (next && out.length < limit) {
      const page: ArchivePage<R> = (await this.options.http.request<ArchivePage<R>>('GET', next)).body;
      out.push(...page.value);
      next = page['odata.nextLink'];
    }
    return out;
  }

  // ── the change feed ──

  async read(after: string | undefined, limit: number): Promise<CrmChangeBatch> {
    const at = decodePosition(after);
    if (this.lastBatch && after === this.lastBatch.position) for (const key of this.lastBatch.keys) this.acked.set(key, Date.now());
    // deletes a webhook or the check of mapped records told of, not yet in the log
    while (this.pending.length && this.pending[0].seq <= at.d) this.pending.shift();
    const changes: CrmChange[] = [];
    const next: FeedPosition = { ...at, n: at.n + 1 };
    for (const d of this.pending.slice(0, limit)) {
      next.d = d.seq;
      changes.push({ ref: d.ref, kind: 'appointment', op: 'd', time: d.time, bySync: false, owner: null, ownerEmail: d.mailbox, position: encodePosition(next) });
    }
    const rows: ArchiveRow[] = [];
    let serverTime = Date.now();
    let path: string | undefined = `/Appointment?$select=appointmentId,updatedDate,registeredDate,updatedBy,associateId,recurrenceRuleId&$filter=${encodeURIComponent(`updatedDate afterTime '${new Date(at.t).toISOString()}'`)}&$orderBy=updatedDate,appointmentId&$top=${Math.max(1, limit - changes.length)}`;
    while (path && rows.length === 0) {
      const page: { body: ArchivePage<ArchiveRow>; serverTime: number | undefined } = await this.options.http.request<ArchivePage<ArchiveRow>>('GET', path);
      serverTime = page.serverTime ?? serverTime;
      // afterTime is "after or equal to": what the position already passed is left out
      rows.push(...page.body.value.filter((r: ArchiveRow) => { const t = parseSoDate(r.updatedDate) ?? 0; return t > at.t || (t === at.t && r.appointmentId > at.id); }));
      path = rows.length === 0 ? page.body['odata.nextLink'] : undefined;
    }
    const settled = serverTime - this.options.settleMs;
    const unsettledKeys: string[] = [];
    let moving = true;
    for (const row of rows) {
      const t = parseSoDate(row.updatedDate) ?? 0;
      const key = `${row.appointmentId}@${row.updatedDate}`;
      moving &&= t <= settled;
      if (moving) {
        next.t = t;
        next.id = row.appointmentId;
      } else unsettledKeys.push(key);
      if (this.acked.has(key)) continue; // published while it was unsettled
      const ref = crmRef('appointment', row.appointmentId);
      const bySync = row.updatedBy === this.apiAssociateId;
      const op = row.registeredDate === row.updatedDate ? 'c' : 'u';
      const position = encodePosition(next);
      if (bySync) {
        changes.push({ ref, kind: 'appointment', op, time: t, bySync, owner: crmRef('associate', row.associateId), ownerEmail: (await this.emailOf(row.associateId)) ?? null, position });
        continue;
      }
      const owner = crmRef('associate', row.associateId);
      if (row.recurrenceRuleId) {
        const refused = new CrmError('RECURRENCE_NOT_SUPPORTED', `${ref} is an occurrence of the recurring series ${row.recurrenceRuleId}: the SuperOffice adapter does not sync series yet`);
        changes.push({ ref, kind: 'appointment', op, time: t, bySync, owner, ownerEmail: (await this.emailOf(row.associateId)) ?? null, position, refused });
        continue;
      }
      const entity = await this.entity(row.appointmentId);
      if (!entity) continue; // deleted since: its delete comes from the webhook or the check of mapped records
      const activity = await this.activityOf(entity);
      if (activity.ownerEmail) this.remember(ref, activity.ownerEmail);
      changes.push({ ref, kind: activity.kind, op, time: t, bySync, owner: activity.owner, ownerEmail: activity.ownerEmail ?? null, position, activity });
    }
    for (const [key, when] of this.acked) if (Date.now() - when > 10 * this.options.settleMs + 60_000) this.acked.delete(key);
    const position = encodePosition(next);
    this.lastBatch = { position, keys: unsettledKeys };
    const advanced = next.t !== at.t || next.id !== at.id || next.d !== at.d;
    return { changes, position: changes.length || advanced ? position : after, more: advanced && rows.length + changes.length >= limit };
  }

  async onChange(wake: () => void): Promise<() => Promise<void>> {
    const stops: Array<() => Promise<void>> = [];
    const { webhook, mapped } = this.options;
    if (webhook) {
      const receiver = await startWebhookReceiver({
        ...webhook.listen, secret: webhook.secret,
        onRefused: (reason) => {
          this.options.onWebhook?.('refused');
          this.options.logger.warn({ event: 'superoffice.webhook-refused', reason }, `a webhook request was refused: ${reason}`);
        },
        onEvent: (e) => {
          this.options.onWebhook?.('accepted');
          void this.onWebhookEvent(e, wake).catch((err: unknown) => this.options.logger.warn({ err, event: 'superoffice.webhook-failed' }, 'a webhook event could not be handled; the archive poll and the check of mapped records catch up'));
        },
      });
      stops.push(() => receiver.close());
      const target = webhook.url ?? `${receiver.url}/`;
      await this.registerWebhook(target, webhook.secret);
      this.options.logger.info({ event: 'superoffice.webhook', listen: receiver.url, target }, `SuperOffice webhooks to ${target} (listening on ${receiver.url})`);
    }
    if (mapped) {
      let running: Promise<void> = Promise.resolve();
      const timer = setInterval(() => {
        running = this.reconcile(mapped).then((n) => (n ? wake() : undefined)).catch((err: unknown) => this.options.logger.warn({ err, event: 'superoffice.reconcile-failed' }, 'checking the mapped records against SuperOffice failed; next round'));
      }, this.options.reconcileIntervalMs);
      timer.unref();
      stops.push(async () => {
        clearInterval(timer);
        await running;
      });
    }
    return async () => {
      for (const stop of stops) await stop();
    };
  }

  private async onWebhookEvent(e: WebhookEvent, wake: () => void): Promise<void> {
    if (e.ChangedByAssociateId === this.apiAssociateId) return; // the sync's own write
    if (e.Event === 'activity.deleted') {
      const ref = crmRef('appointment', e.PrimaryKey);
      // a record never handed out (made and deleted between two reads) needs no delete
      const mailbox = this.owners.get(ref) ?? (await this.options.mapped?.mailboxOf(ref));
      if (mailbox) this.queueDelete(ref, mailbox);
    }
    wake();
  }

  private remember(ref: CrmRef, ownerEmail: string): void {
    this.owners.delete(ref);
    this.owners.set(ref, ownerEmail);
    // the newest 100,000 are enough: older records are mapped by now
    if (this.owners.size > 100_000) this.owners.delete(this.owners.keys().next().value!);
  }

  private queueDelete(ref: CrmRef, mailbox: string): void {
    if (this.pending.some((d) => d.ref === ref)) return;
    // numbered from the clock, so a number handed out before a restart is never reused
    this.deleteSeq = Math.max(this.deleteSeq + 1, Date.now() * 1_000);
    this.pending.push({ seq: this.deleteSeq, ref, mailbox, time: Date.now() });
  }

  /** Mapped records the CRM no longer has: their deletes, when no webhook told of them. Returns how many. */
  async reconcile(mapped: MappedRecords): Promise<number> {
    let found = 0;
    let after: CrmRef | undefined;
    for (;;) {
      const page = await mapped.page('appointment', after, 500);
      if (!page.length) break;
      after = page[page.length - 1].ref;
      const ids = page.map((p) => idOf(p.ref, 'appointment')).filter((id): id is number => id !== undefined);
      if (!ids.length) continue;
      const present = new Set((await this.archive<{ appointmentId: number }>(`/Appointment?$select=appointmentId&$filter=${encodeURIComponent(`appointmentId between ${Math.min(...ids)},${Math.max(...ids)}`)}`)).map((r) => r.appointmentId));
      for (const p of page) {
        const id = idOf(p.ref, 'appointment');
        if (id !== undefined && !present.has(id)) {
          this.queueDelete(p.ref, p.mailbox);
          found++;
        }
      }
    }
    if (found) this.options.logger.info({ event: 'superoffice.reconciled', deletes: found }, `${found} mapped records are gone from SuperOffice: their deletes are sent`);
    return found;
  }

  /** One webhook of this sync per tenant, found by name; created when missing. */
  private async registerWebhook(url: string, secret: string): Promise<void> {
    const name = `exchange-crm-sync ${this.options.device}`;
    const existing = (await this.options.http.request<Array<{ WebhookId: number; TargetUrl: string; State: string }>>('GET', `/Webhook?nameFilter=${encodeURIComponent(name)}`)).body ?? [];
    const current = existing.find((h) => h.TargetUrl === url && h.State === 'Active');
    for (const h of existing) if (h !== current) await this.options.http.request('DELETE', `/Webhook/${h.WebhookId}`, undefined, { expect: [404] });
    // the secret is write-only: a webhook found by name is replaced, so the secret is ours
    if (current) await this.options.http.request('DELETE', `/Webhook/${current.WebhookId}`, undefined, { expect: [404] });
    await this.options.http.request('POST', '/Webhook', { Name: name, Events: WEBHOOK_EVENTS, TargetUrl: url, Secret: secret, State: 'Active', Type: 'webhook' });
  }
}
