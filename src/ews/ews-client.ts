import { responseCodeIn } from './ews-response-codes.js';
import ews from 'ews-javascript-api';
import { defer, finalize, from, switchMap, tap, type Observable } from 'rxjs';
import type { EwsSettings } from '../config/index.js';
import { childNamed, childrenNamed, parseXml } from '../shared/safe-xml.js';
import type { BackoffGate } from '../shared/backoff-gate.js';
import { ewsError, toEwsError } from './ews-error.js';
import { exchangeErrorCategory } from '../shared/errors.js';
import { credentialsOf, NtlmCredentials, type EwsCredentials } from './ews-credentials.js';
import { EwsHttp, EwsTransport, ntlmChallengeOf, plainResponse, roundTrip, unauthorizedReason } from './ews-http.js';
import type { EwsMetrics } from './ews-metrics.js';
import { CRM_ID_PROPERTY, isoOf, itemsOf, normaliseItem, patternOf, read } from './normalise-item.js';
import type {
  AffinityGroup, ExchangePort, FetchedItem, FolderKind, ListedItem, NotificationEvent, NotificationType, PullEvents, StreamMessage, SyncChange, SyncPage, UpdateOutcome, KeptProperties,
} from './exchange-port.js';
import { streamingEvents } from './streaming-reader.js';
import { escapeXml } from '../shared/xml-escape.js';
import type { ItemFields, RecurrenceException } from '../shared/item-fields.js';
import { withTypeCategory } from '../shared/type-category.js';
import { windowsFromIana, zoneOffsetMs } from '../shared/time-zones.js';
import { localDate, recurrenceOf } from './recurrence-pattern.js';
import { applyContact, contactCardOf } from './contact-fields.js';
import { toRrule } from '../shared/rrule.js';

const WELL_KNOWN: Record<FolderKind, ews.WellKnownFolderName> = {
  calendar: ews.WellKnownFolderName.Calendar,
  tasks: ews.WellKnownFolderName.Tasks,
  contacts: ews.WellKnownFolderName.Contacts,
};
/** Properties FirstClassProperties leaves out that the sync needs. */
const FOLDER_PROPERTIES: Partial<Record<FolderKind, ews.PropertyDefinitionBase[]>> = {
  calendar: [
    ews.AppointmentSchema.Recurrence, ews.AppointmentSchema.ModifiedOccurrences, ews.AppointmentSchema.DeletedOccurrences, ews.AppointmentSchema.StartTimeZone,
    ews.AppointmentSchema.ICalUid, ews.ItemSchema.Sensitivity, ews.ItemSchema.Categories, ews.ItemSchema.LastModifiedTime,
    ews.ItemSchema.IsReminderSet, ews.ItemSchema.ReminderMinutesBeforeStart,
  ],
  tasks: [ews.ItemSchema.Sensitivity, ews.ItemSchema.Categories, ews.ItemSchema.LastModifiedTime],
  contacts: [ews.ItemSchema.Categories, ews.ItemSchema.LastModifiedTime],
};

/**
 * Items per CreateItem/DeleteItem request. Exchange sets no number; the time a request takes
 * is charged to the account's budget, and Microsoft's guidance keeps batches to about 100.
 */
const WRITE_BATCH = 100;
const FIND_PAGE = 1_000;
const FOLDER_PAGE = 100;

const EVENT_TYPES = [ews.EventType.Created, ews.EventType.Modified, ews.EventType.Deleted, ews.EventType.Moved, ews.EventType.Copied];

export interface EwsClientOptions {
  settings: EwsSettings;
  gate: BackoffGate;
  metrics?: EwsMetrics;
  maxSockets: number;
  /** After Exchange refused the credentials, how long nothing is sent (default 5 minutes). */
  authRetryMs?: number;
  /** How requests authenticate; by default from the settings (Basic or OAuth). */
  credentials?: EwsCredentials;
}

/**
 * ExchangePort over ews-javascript-api: the library builds requests and reads responses
 * for Subscribe, GetEvents, SyncFolderItems and items; our transport (EwsHttp) carries
 * them; GetStreamingEvents and GetFolder are read by us. Each call gets a fresh service
 * object, so concurrent calls never share an impersonation header.
 */
export class EwsClient implements ExchangePort {
  readonly url: string;
  private readonly transport: EwsTransport;
  private readonly settings: EwsSettings;
  private readonly groups = new Map<string, EwsHttp>();
  private readonly version: ews.ExchangeVersion;
  readonly credentials: EwsCredentials;
  /** The mailbox each service object acts on (a folder of it is named by folderOf). */
  private readonly mailboxOfService = new WeakMap<ews.ExchangeService, string>();

  constructor(options: EwsClientOptions) {
    if (!options.settings.url) throw new Error('EwsClient needs an EWS url');
    this.url = options.settings.url;
    this.settings = options.settings;
    this.credentials = options.credentials ?? credentialsOf(options.settings);
    this.transport = new EwsTransport({
      tlsVerify: options.settings.tlsVerify, timeoutMs: options.settings.requestTimeoutMs, maxSockets: options.maxSockets, gate: options.gate, metrics: options.metrics,
      credentials: this.credentials, authRetryMs: options.authRetryMs,
    });
    this.version = ews.ExchangeVersion[options.settings.version as keyof typeof ews.ExchangeVersion] as ews.ExchangeVersion;
  }

  /**
   * A well-known folder of `mailbox`: with impersonation the service acts as the mailbox, so
   * the folder needs no owner; with delegate access the folder names the mailbox it is in.
   */
  private folderOf(kind: FolderKind, mailbox: string): ews.FolderId {
    return this.settings.impersonation ? new ews.FolderId(WELL_KNOWN[kind]) : new ews.FolderId(WELL_KNOWN[kind], new ews.Mailbox(mailbox));
  }

  /** A service acting as `mailbox`, sending through `http`. */
  private service(mailbox: string, http: EwsHttp): ews.ExchangeService {
    const service = new ews.ExchangeService(this.version);
    // the header the library would send is replaced by EwsHttp with the credentials' own
    service.Credentials = this.credentials.mode === 'oauth' ? new ews.OAuthCredentials('set-per-request', true) : new ews.WebCredentials(this.settings.user, this.settings.password);
    service.Url = new ews.Uri(this.url);
    service.XHRApi = http as unknown as typeof service.XHRApi;
    if (this.settings.impersonation) service.ImpersonatedUserId = new ews.ImpersonatedUserId(ews.ConnectingIdType.SmtpAddress, mailbox);
    this.mailboxOfService.set(service, mailbox);
    return service;
  }

  private http(mailbox: string): EwsHttp {
    // Microsoft asks impersonating clients to name the target mailbox for routing.
    return new EwsHttp(this.transport, { 'X-AnchorMailbox': mailbox });
  }

  private group(group: AffinityGroup): EwsHttp {
    let http = this.groups.get(group.anchorMailbox);
    if (!http) {
      http = new EwsHttp(this.transport, { 'X-AnchorMailbox': group.anchorMailbox, 'X-PreferServerAffinity': 'true' });
      this.groups.set(group.anchorMailbox, http);
    }
    return http;
  }

  private async call<T>(operation: string, mailbox: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw toEwsError(err, { operation, mailbox });
    }
  }

  async folderIds(mailbox: string, folders: readonly FolderKind[]): Promise<Record<string, FolderKind>> {
    const body =
      `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
      `<soap:Header><t:RequestServerVersion Version="${this.settings.version}"/>` +
      (this.settings.impersonation ? `<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>${escapeXml(mailbox)}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>` : '') +
      `</soap:Header><soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${folders.map((f) => (this.settings.impersonation ? `<t:DistinguishedFolderId Id="${f}"/>` : `<t:DistinguishedFolderId Id="${f}"><t:Mailbox><t:EmailAddress>${escapeXml(mailbox)}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`)).join('')}</m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>`;
    const response = await this.http(mailbox).send({ url: this.url, headers: { 'content-type': 'text/xml; charset=utf-8' }, data: body });
    const code = responseCodeIn(response.responseText);
    if (response.status !== 200) throw ewsError(code ?? (response.status === 0 ? (response as { code?: string }).code ?? 'SOCKET' : `HTTP_${response.status}`), `GetFolder failed for ${mailbox}${(response as { message?: string }).message ? `: ${(response as { message?: string }).message}` : ''}`, { context: { mailbox } });
    let doc;
    try {
      doc = parseXml(response.responseText);
    } catch (err) {
      throw ewsError('ErrorInvalidResponse', `GetFolder: malformed response (${(err as Error).message})`, { cause: err, context: { mailbox } });
    }
    const messages = childrenNamed(childNamed(childNamed(childNamed(doc, 'Body') ?? doc, 'GetFolderResponse') ?? doc, 'ResponseMessages') ?? doc, 'GetFolderResponseMessage');
    const ids: Record<string, FolderKind> = {};
    messages.forEach((m, i) => {
      const responseCode = childNamed(m, 'ResponseCode')?.text.trim() ?? 'NoError';
      if (responseCode !== 'NoError') throw ewsError(responseCode, `GetFolder ${folders[i]}: ${childNamed(m, 'MessageText')?.text ?? responseCode}`, { context: { mailbox } });
      const folder = childNamed(m, 'Folders')?.children[0];
      const id = folder && childNamed(folder, 'FolderId')?.attrs.Id;
      if (id) ids[id] = folders[i];
    });
    if (Object.keys(ids).length !== folders.length) throw ewsError('ErrorInvalidResponse', `GetFolder answered ${Object.keys(ids).length} of ${folders.length} folders`, { context: { mailbox } });
    return ids;
  }

  /** `policyFields`: each item's categories and sensitivity too (verify's listing; the sync's own reads need not carry them). */
  syncFolderItems(mailbox: string, folder: FolderKind, syncState: string | null, maxChanges: number, policyFields = false): Promise<SyncPage> {
    return this.call('SyncFolderItems', mailbox, async () => {
      const extra = folder === 'calendar' ? [ews.AppointmentSchema.Start, ews.AppointmentSchema.End, ews.AppointmentSchema.IsRecurring] : folder === 'tasks' ? [ews.TaskSchema.DueDate] : [];
      if (policyFields && folder !== 'contacts') extra.push(ews.ItemSchema.Categories, ews.ItemSchema.Sensitivity);
      const shape = new ews.PropertySet(ews.BasePropertySet.IdOnly, extra);
      const result = await this.service(mailbox, this.http(mailbox)).SyncFolderItems(this.folderOf(folder, mailbox), shape, null as never, maxChanges, ews.SyncFolderItemsScope.NormalItems, syncState as never);
      const changes: SyncChange[] = [];
      for (let i = 0; i < result.Count; i++) {
        const change = result._getItem(i);
        const type = ews.ChangeType[change.ChangeType] as string;
        if (type !== 'Create' && type !== 'Update' && type !== 'Delete') continue;
        const item = change.Item as (ews.Item & Partial<ews.Appointment> & Partial<ews.Task>) | null;
        const props = item?.GetLoadedPropertyDefinitions ? loadedDates(item) : {};
        changes.push({ type, itemId: change.ItemId.UniqueId, changeKey: change.ItemId.ChangeKey ?? undefined, ...props });
      }
      return { syncState: result.SyncState, includesLastItemInRange: !result.MoreChangesAvailable, changes };
    });
  }

  subscribePull(mailbox: string, folders: readonly FolderKind[], timeoutMinutes: number, watermark?: string): Promise<{ subscriptionId: string; watermark: string }> {
    return this.call('Subscribe', mailbox, async () => {
      const sub = await this.service(mailbox, this.http(mailbox)).SubscribeToPullNotifications(folders.map((f) => this.folderOf(f, mailbox)), timeoutMinutes, (watermark ?? null) as never, ...EVENT_TYPES);
      return { subscriptionId: sub.Id, watermark: sub.Watermark };
    });
  }

  getEvents(mailbox: string, subscriptionId: string, watermark: string): Promise<PullEvents> {
    return this.call('GetEvents', mailbox, async () => {
      const results = await this.service(mailbox, this.http(mailbox)).GetEvents(subscriptionId, watermark);
      const internals = results as unknown as { newWatermark: string; moreEventsAvailable: boolean };
      return { events: results.AllEvents.map(toNotificationEvent), moreEvents: internals.moreEventsAvailable, watermark: internals.newWatermark };
    });
  }

  subscribeStreaming(mailbox: string, folders: readonly FolderKind[], group: AffinityGroup): Promise<string> {
    return this.call('Subscribe', mailbox, async () => {
      const sub = await this.service(mailbox, this.group(group)).SubscribeToStreamingNotifications(folders.map((f) => this.folderOf(f, mailbox)), ...EVENT_TYPES);
      return sub.Id;
    });
  }

  /** Exchange refused the credentials and nothing is sent until a later retry: why, for the status page. */
  authRefusal(): string | null {
    const r = this.transport.authRefusal;
    return r ? `Exchange refused ${this.credentials.mode === 'oauth' ? 'the app' : this.settings.user} (auth="${this.credentials.mode}") at ${new Date(r.at).toISOString()}: ${r.reason}` : null;
  }

  streamEvents(group: AffinityGroup, subscriptionIds: readonly string[], lifetimeMinutes: number): Observable<StreamMessage> {
    return defer(() => {
      const held = this.transport.heldBack();
      if (held) throw ewsError('HTTP_401', held.reason);
      let answered = false;
      return this.connectStream(group, subscriptionIds, lifetimeMinutes).pipe(tap({
        next: () => {
          if (!answered) this.transport.authOutcome('accepted');
          answered = true;
        },
        error: (err: unknown) => {
          const e = err as { responseCode?: string; message?: string };
          // an OAuth token refused here is replaced at the reconnect: the request path decides whether the app is refused
          this.transport.authOutcome(e.responseCode === 'HTTP_401' && this.credentials.mode !== 'oauth' ? { refused: e.message ?? 'HTTP 401' } : 'unknown');
        },
      }));
    });
  }

  private connectStream(group: AffinityGroup, subscriptionIds: readonly string[], lifetimeMinutes: number): Observable<StreamMessage> {
    const credentials = this.credentials;
    if (credentials instanceof NtlmCredentials) {
      // a streaming connection is a TCP connection of its own: it runs the NTLM handshake itself
      return defer(async () => {
        const agent = this.transport.connectionAgent(this.url.startsWith('https:'));
        const http = this.group(group);
        const negotiated = await roundTrip(new URL(this.url), 'POST', { ...http.headers, authorization: credentials.negotiate(), 'content-length': '0' }, '', agent, this.settings.requestTimeoutMs, plainResponse);
        const offer = ntlmChallengeOf(negotiated.response.headers['www-authenticate']);
        if (!offer) {
          agent.destroy();
          throw ewsError(negotiated.response.status === 0 ? 'SOCKET' : `HTTP_${negotiated.response.status || 401}`, `NTLM: GetStreamingEvents: the server answered NEGOTIATE without a CHALLENGE (${unauthorizedReason(negotiated.response.headers['www-authenticate'])})`);
        }
        return { agent, authorization: credentials.authenticate(offer) };
      }).pipe(switchMap(({ agent, authorization }) => streamingEvents(this.transport, this.group(group), {
        url: this.url, authorization, version: this.settings.version, anchorMailbox: group.anchorMailbox, connectingMailbox: group.connectingMailbox,
        impersonation: this.settings.impersonation, subscriptionIds, lifetimeMinutes, agent,
      }).pipe(finalize(() => agent.destroy()))));
    }
    // every new streaming connection authenticates anew; a refused token is replaced at the reconnect
    return defer(() => from(this.credentials.header())).pipe(switchMap((authorization) => streamingEvents(this.transport, this.group(group), {
      url: this.url, authorization, version: this.settings.version, anchorMailbox: group.anchorMailbox, connectingMailbox: group.connectingMailbox,
      impersonation: this.settings.impersonation, subscriptionIds, lifetimeMinutes,
    }).pipe(tap({ error: (err: unknown) => (err as { responseCode?: string }).responseCode === 'HTTP_401' && this.credentials.refused(authorization) }))));
  }

  unsubscribe(mailbox: string, subscriptionId: string, group?: AffinityGroup): Promise<void> {
    return this.call('Unsubscribe', mailbox, async () => {
      const service = this.service(mailbox, group ? this.group(group) : this.http(mailbox)) as unknown as { Unsubscribe(id: string): Promise<void> };
      await service.Unsubscribe(subscriptionId);
    });
  }

  /** A full SyncFolderItems from no SyncState, page by page: Exchange's truth, not the sync's state. */
  async listFolder(mailbox: string, folder: FolderKind): Promise<ListedItem[]> {
    const items: ListedItem[] = [];
    let state: string | null = null;
    for (;;) {
      const page = await this.syncFolderItems(mailbox, folder, state, 512, true);
      for (const c of page.changes) {
        if (c.type !== 'Delete') items.push({ itemId: c.itemId, changeKey: c.changeKey, start: c.start, end: c.end, recurring: c.recurring, categories: c.categories, private: c.private });
      }
      state = page.syncState;
      if (page.includesLastItemInRange) return items;
    }
  }

  getItems(mailbox: string, folder: FolderKind, itemIds: readonly string[]): Promise<FetchedItem[]> {
    if (!itemIds.length) return Promise.resolve([]);
    return this.call('GetItem', mailbox, async () => {
      const shape = new ews.PropertySet(ews.BasePropertySet.FirstClassProperties, [CRM_ID_PROPERTY, ...(FOLDER_PROPERTIES[folder] ?? [])]);
      shape.RequestedBodyType = ews.BodyType.Text;
      const service = this.service(mailbox, this.http(mailbox));
      const responses = await service.BindToItems(itemIds.map((id) => new ews.ItemId(id)), shape);
      const fetched = itemIds.map((itemId, i) => {
        const r = responses.Responses[i];
        if (r.Result === ews.ServiceResult.Success && r.Item) return { itemId, item: normaliseItem(r.Item, folder), raw: r.Item };
        const code = ews.ServiceError[r.ErrorCode] ?? 'ErrorInternalServerError';
        if (code === 'ErrorItemNotFound') return { itemId, missing: true as const };
        throw ewsError(code, `GetItem ${itemId}: ${r.ErrorMessage ?? code}`, { context: { mailbox, itemId } });
      });
      await this.fillExceptions(service, fetched);
      return fetched.map(({ itemId, item, missing }) => (missing ? { itemId, missing } : { itemId, item: item! }));
    });
  }

  /**
   * A master's ModifiedOccurrences name each occurrence's times only; its subject and location
   * are the occurrence's own, read with one more GetItem for all masters of the batch. An
   * occurrence gone in between keeps the master's.
   */
  private async fillExceptions(service: ews.ExchangeService, fetched: Array<{ item?: ItemFields; raw?: ews.Item }>): Promise<void> {
    const wanted: Array<{ exception: RecurrenceException; id: string }> = [];
    for (const { item, raw } of fetched) {
      if (!(raw instanceof ews.Appointment) || !item?.recurrence?.exceptions.length) continue;
      const ids = new Map(itemsOf(read(() => raw.ModifiedOccurrences)).map((o) => [isoOf(o.OriginalStart), o.ItemId?.UniqueId]));
      for (const exception of item.recurrence.exceptions) {
        const id = ids.get(exception.originalStart);
        if (id) wanted.push({ exception, id });
      }
    }
    if (!wanted.length) return;
    const shape = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject, ews.AppointmentSchema.Location]);
    const responses = await service.BindToItems(wanted.map((w) => new ews.ItemId(w.id)), shape);
    wanted.forEach(({ exception }, i) => {
      const r = responses.Responses[i];
      if (r.Result !== ews.ServiceResult.Success || !(r.Item instanceof ews.Appointment)) return;
      const occurrence = r.Item;
      const subject = read(() => occurrence.Subject);
      const location = read(() => occurrence.Location);
      if (subject !== undefined && subject !== null) exception.subject = subject;
      if (location !== undefined && location !== null) exception.location = location;
    });
  }

  createItem(mailbox: string, folder: FolderKind, fields: ItemFields, crmId: string): Promise<{ itemId: string; changeKey: string }> {
    return this.call('CreateItem', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      if (folder === 'contacts') {
        const contact = new ews.Contact(service);
        applyContact(contact, fields);
        contact.SetExtendedProperty(CRM_ID_PROPERTY, escapeXml(crmId));
        await contact.Save(this.folderOf('contacts', mailbox));
        return { itemId: contact.Id.UniqueId, changeKey: contact.Id.ChangeKey };
      }
      const item = folder === 'tasks' ? new ews.Task(service) : new ews.Appointment(service);
      applyFields(item, fields);
      item.SetExtendedProperty(CRM_ID_PROPERTY, escapeXml(crmId));
      if (item instanceof ews.Appointment) await item.Save(this.folderOf('calendar', mailbox), ews.SendInvitationsMode.SendToNone);
      else await item.Save(this.folderOf('tasks', mailbox));
      if (item instanceof ews.Appointment && fields.recurrence?.exdates.length) {
        const changeKey = await this.deleteOccurrences(service, item.Id.UniqueId, fields.recurrence.exdates, new Set());
        if (changeKey) return { itemId: item.Id.UniqueId, changeKey };
      }
      return { itemId: item.Id.UniqueId, changeKey: item.Id.ChangeKey };
    });
  }

  findStamped(mailbox: string, folder: FolderKind, crmId: string): Promise<{ itemId: string; changeKey: string } | undefined> {
    return this.call('FindItem', mailbox, async () => {
      const view = new ews.ItemView(2);
      view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly);
      const found = await this.service(mailbox, this.http(mailbox)).FindItems(this.folderOf(folder, mailbox), new ews.SearchFilter.IsEqualTo(CRM_ID_PROPERTY, escapeXml(crmId)), view);
      const item = found.Items[0];
      return item ? { itemId: item.Id.UniqueId, changeKey: item.Id.ChangeKey } : undefined;
    });
  }

  updateItem(mailbox: string, folder: FolderKind, itemId: string, fields: ItemFields, ifChangeKey?: string, keep: KeptProperties = NOTHING_KEPT): Promise<UpdateOutcome> {
    return this.call('UpdateItem', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      let item: ews.Appointment | ews.Task | ews.Contact;
      try {
        item = folder === 'tasks' ? await ews.Task.Bind(service, new ews.ItemId(itemId)) : folder === 'contacts' ? await ews.Contact.Bind(service, new ews.ItemId(itemId)) : await ews.Appointment.Bind(service, new ews.ItemId(itemId));
      } catch (err) {
        if (toEwsError(err).responseCode === 'ErrorItemNotFound') return { status: 'missing' as const };
        throw err;
      }
      if (ifChangeKey !== undefined && item.Id.ChangeKey !== ifChangeKey) {
        return { status: 'conflict' as const, changeKey: item.Id.ChangeKey, modified: isoOf(item.LastModifiedTime) };
      }
      if (item instanceof ews.Contact) applyContact(item, fields, contactCardOf(item));
      else applyFields(item, fields, keep);
      // NeverOverwrite sends the ChangeKey just read: an edit between our read and write is a
      // conflict, never silently overwritten.
      try {
        if (item instanceof ews.Appointment) await item.Update(ews.ConflictResolutionMode.NeverOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
        else await item.Update(ews.ConflictResolutionMode.NeverOverwrite);
      } catch (err) {
        if (toEwsError(err).responseCode === 'ErrorIrresolvableConflict') return { status: 'conflict' as const };
        throw err;
      }
      if (item instanceof ews.Appointment && fields.recurrence?.exdates.length) {
        const deleted = new Set(itemsOf(read(() => (item as ews.Appointment).DeletedOccurrences)).map((o) => isoOf(o.OriginalStart)));
        const changeKey = await this.deleteOccurrences(service, item.Id.UniqueId, fields.recurrence.exdates, deleted);
        if (changeKey) return { status: 'updated' as const, changeKey };
      }
      return { status: 'updated' as const, changeKey: item.Id.ChangeKey };
    });
  }

  updateOccurrence(mailbox: string, masterItemId: string, originalStart: string, fields: ItemFields | null, keep: KeptProperties = NOTHING_KEPT): Promise<{ before: string; after: string } | undefined> {
    return this.call('UpdateItem', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      const found = await this.findOccurrence(service, masterItemId, originalStart);
      if (!found) return undefined;
      const { occurrenceId, masterChangeKey } = found;
      if (fields === null) {
        await service.DeleteItems([occurrenceId], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
      } else {
        const occurrence = await ews.Appointment.Bind(service, occurrenceId);
        if (!keep.has('subject')) occurrence.Subject = escapeXml(fields.subject ?? '');
        if (!keep.has('location')) occurrence.Location = escapeXml(fields.location ?? '');
        if (fields.start && !keep.has('start')) occurrence.Start = new ews.DateTime(Date.parse(fields.start));
        if (fields.end && !keep.has('start')) occurrence.End = new ews.DateTime(Date.parse(fields.end));
        await occurrence.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToNone);
      }
      const master = await ews.Appointment.Bind(service, new ews.ItemId(masterItemId), new ews.PropertySet(ews.BasePropertySet.IdOnly));
      return { before: masterChangeKey, after: master.Id.ChangeKey };
    }).catch((err: unknown) => {
      if (exchangeErrorCategory(err) === 'not-found') return undefined;
      throw err;
    });
  }

  /**
   * The id of a series' occurrence by its original start (a modified one from the master, else
   * a CalendarView of that start), and the master's ChangeKey as it was read.
   */
  private async findOccurrence(service: ews.ExchangeService, masterItemId: string, originalStart: string): Promise<{ occurrenceId: ews.ItemId; masterChangeKey: string } | undefined> {
    const master = await ews.Appointment.Bind(service, new ews.ItemId(masterItemId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.AppointmentSchema.ICalUid, ews.AppointmentSchema.ModifiedOccurrences]));
    const at = Date.parse(originalStart);
    const modified = itemsOf(read(() => master.ModifiedOccurrences)).find((o) => o.OriginalStart.TotalMilliSeconds === at);
    const masterChangeKey = master.Id.ChangeKey;
    if (modified) return { occurrenceId: modified.ItemId, masterChangeKey };
    const view = new ews.CalendarView(new ews.DateTime(at), new ews.DateTime(at + 60_000));
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.AppointmentSchema.Start, ews.AppointmentSchema.ICalUid, ews.AppointmentSchema.AppointmentType]);
    const found = await service.FindAppointments(this.folderOf('calendar', this.mailboxOfService.get(service) ?? ''), view);
    const occurrenceId = found.Items.find((a) => a.ICalUid === master.ICalUid && a.AppointmentType === ews.AppointmentType.Occurrence && a.Start.TotalMilliSeconds === at)?.Id;
    return occurrenceId ? { occurrenceId, masterChangeKey } : undefined;
  }

  /**
   * A series' EXDATEs: each occurrence not deleted yet is found by a CalendarView of its
   * start (Exchange expands the series) and deleted. Returns the master's new ChangeKey.
   */
  private async deleteOccurrences(service: ews.ExchangeService, masterId: string, exdates: readonly string[], deleted: ReadonlySet<string | undefined>): Promise<string | undefined> {
    let any = false;
    for (const exdate of exdates) {
      if (deleted.has(exdate)) continue;
      const occurrence = await this.findOccurrence(service, masterId, exdate);
      if (!occurrence) continue; // not an occurrence of the series: nothing to delete
      await service.DeleteItems([occurrence.occurrenceId], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
      any = true;
    }
    if (!any) return undefined;
    const after = await ews.Appointment.Bind(service, new ews.ItemId(masterId), new ews.PropertySet(ews.BasePropertySet.IdOnly));
    return after.Id.ChangeKey;
  }

  ensureContactFolder(mailbox: string, displayName: string): Promise<string> {
    return this.call('CreateFolder', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      const folder = new ews.ContactsFolder(service);
      folder.DisplayName = escapeXml(displayName);
      try {
        await folder.Save(this.folderOf('contacts', mailbox));
        return folder.Id.UniqueId;
      } catch (err) {
        if (toEwsError(err).responseCode !== 'ErrorFolderExists') throw err;
      }
      // made before (a create whose answer was lost, a folder the user named so): that one is used
      for (let offset = 0; ; offset += FOLDER_PAGE) {
        const view = new ews.FolderView(FOLDER_PAGE, offset);
        view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.FolderSchema.DisplayName]);
        const page = await service.FindFolders(this.folderOf('contacts', mailbox), view);
        const found = page.Folders.find((f) => (f.DisplayName ?? '').toLowerCase() === displayName.toLowerCase());
        if (found) return found.Id.UniqueId;
        if (!page.MoreAvailable) throw ewsError('ErrorFolderNotFound', `CreateFolder said "${displayName}" exists in the Contacts folder of ${mailbox}, and FindFolder does not list it`, { context: { mailbox } });
      }
    });
  }

  renameFolder(mailbox: string, folderId: string, displayName: string): Promise<boolean> {
    return this.call('UpdateFolder', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      const folder = await ews.Folder.Bind(service, new ews.FolderId(folderId), new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.FolderSchema.DisplayName]));
      if (folder.DisplayName === displayName) return true;
      folder.DisplayName = escapeXml(displayName);
      await folder.Update();
      return true;
    }).catch((err: unknown) => {
      if (exchangeErrorCategory(err) === 'not-found') return false;
      throw err;
    });
  }

  deleteFolder(mailbox: string, folderId: string): Promise<boolean> {
    return this.call('DeleteFolder', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      const folder = await ews.Folder.Bind(service, new ews.FolderId(folderId), new ews.PropertySet(ews.BasePropertySet.IdOnly));
      // SoftDelete: out of the user's sight (not into Deleted Items), recoverable by an administrator
      await folder.Delete(ews.DeleteMode.SoftDelete);
      return true;
    }).catch((err: unknown) => {
      if (exchangeErrorCategory(err) === 'not-found') return false;
      throw err;
    });
  }

  createContacts(mailbox: string, folderId: string, entries: ReadonlyArray<{ fields: ItemFields; crmId: string }>): Promise<Array<{ itemId: string; changeKey: string } | { error: Error }>> {
    return this.call('CreateItem', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      const out: Array<{ itemId: string; changeKey: string } | { error: Error }> = [];
      for (let i = 0; i < entries.length; i += WRITE_BATCH) {
        const batch = entries.slice(i, i + WRITE_BATCH);
        const contacts = batch.map(({ fields, crmId }) => {
          const contact = new ews.Contact(service);
          applyContact(contact, fields);
          contact.SetExtendedProperty(CRM_ID_PROPERTY, escapeXml(crmId));
          return contact;
        });
        let responses: ews.ServiceResponseCollection<ews.ServiceResponse>;
        try {
          responses = await service.CreateItems(contacts, new ews.FolderId(folderId), null as never, null as never);
        } catch (err) {
          // the library throws when any response failed; the per-item answers are on the error
          const e = err as { Responses?: ews.ServiceResponseCollection<ews.ServiceResponse> };
          if (!e.Responses) throw err;
          responses = e.Responses;
        }
        batch.forEach(({ crmId }, j) => {
          const r = responses.Responses[j];
          if (r && r.Result === ews.ServiceResult.Success) out.push({ itemId: contacts[j].Id.UniqueId, changeKey: contacts[j].Id.ChangeKey });
          else out.push({ error: ewsError(r ? (ews.ServiceError[r.ErrorCode] ?? 'ErrorInternalServerError') : 'ErrorInvalidResponse', `CreateItem of ${crmId}: ${r?.ErrorMessage ?? 'no answer'}`, { context: { mailbox, crmId } }) });
        });
      }
      return out;
    });
  }

  stampedIn(mailbox: string, folderId: string): Promise<Map<string, { itemId: string; changeKey: string }>> {
    return this.call('FindItem', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      const found = new Map<string, { itemId: string; changeKey: string }>();
      for (let offset = 0; ; offset += FIND_PAGE) {
        const view = new ews.ItemView(FIND_PAGE, offset);
        view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [CRM_ID_PROPERTY]);
        const page = await service.FindItems(new ews.FolderId(folderId), view);
        for (const item of page.Items) {
          const crmId = normaliseItem(item, 'contacts').crmId;
          if (crmId) found.set(crmId, { itemId: item.Id.UniqueId, changeKey: item.Id.ChangeKey });
        }
        if (!page.MoreAvailable) return found;
      }
    });
  }

  deleteItems(mailbox: string, itemIds: readonly string[]): Promise<void> {
    return this.call('DeleteItem', mailbox, async () => {
      const service = this.service(mailbox, this.http(mailbox));
      for (let i = 0; i < itemIds.length; i += WRITE_BATCH) {
        const ids = itemIds.slice(i, i + WRITE_BATCH).map((id) => new ews.ItemId(id));
        let responses: ews.ServiceResponseCollection<ews.ServiceResponse>;
        try {
          responses = await service.DeleteItems(ids, ews.DeleteMode.HardDelete, null as never, null as never);
        } catch (err) {
          const e = err as { Responses?: ews.ServiceResponseCollection<ews.ServiceResponse> };
          if (!e.Responses) throw err;
          responses = e.Responses;
        }
        for (const r of responses.Responses) {
          if (r.Result === ews.ServiceResult.Success) continue;
          const code = ews.ServiceError[r.ErrorCode] ?? 'ErrorInternalServerError';
          if (code !== 'ErrorItemNotFound') throw ewsError(code, `DeleteItem: ${r.ErrorMessage ?? code}`, { context: { mailbox } });
        }
      }
    });
  }

  deleteItem(mailbox: string, itemId: string): Promise<boolean> {
    return this.call('DeleteItem', mailbox, async () => {
      const responses = await this.service(mailbox, this.http(mailbox)).DeleteItems([new ews.ItemId(itemId)], ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToNone, ews.AffectedTaskOccurrence.AllOccurrences);
      const r = responses.Responses[0];
      if (r.Result === ews.ServiceResult.Success) return true;
      const code = ews.ServiceError[r.ErrorCode] ?? 'ErrorInternalServerError';
      if (code === 'ErrorItemNotFound') return false;
      throw ewsError(code, `DeleteItem ${itemId}: ${r.ErrorMessage ?? code}`, { context: { mailbox, itemId } });
    });
  }

  async close(): Promise<void> {
    this.transport.destroy();
  }
}

function loadedDates(item: ews.Item & Partial<ews.Appointment> & Partial<ews.Task>): Partial<SyncChange> {
  const out: { start?: string; end?: string; recurring?: boolean; categories?: string[]; private?: boolean } = {};
  const start = read(() => item.Start);
  const end = read(() => item.End);
  const due = read(() => item.DueDate);
  const recurring = read(() => item.IsRecurring);
  if (start) out.start = start.ToISOString();
  if (end) out.end = end.ToISOString();
  if (!start && due) out.start = out.end = due.ToISOString();
  if (recurring !== undefined && recurring !== null) out.recurring = recurring;
  const categories = read(() => item.Categories);
  if (categories?.Count) out.categories = categories.GetEnumerator();
  const sensitivity = read(() => item.Sensitivity);
  if (sensitivity !== undefined && sensitivity !== null) out.private = sensitivity === ews.Sensitivity.Private;
  return out;
}

function toNotificationEvent(e: ews.NotificationEvent): NotificationEvent {
  const item = e as ews.NotificationEvent & Partial<ews.ItemEvent> & Partial<ews.FolderEvent>;
  return {
    type: ews.EventType[e.EventType] as NotificationType,
    itemId: item.ItemId?.UniqueId,
    folderId: item.FolderId?.UniqueId,
    parentFolderId: e.ParentFolderId?.UniqueId,
    oldItemId: item.OldItemId?.UniqueId,
    oldParentFolderId: e.OldParentFolderId?.UniqueId,
    time: e.TimeStamp ? e.TimeStamp.TotalMilliSeconds : undefined,
  };
}

/**
 * The synced fields onto a library item. Text goes through escapeXml: the library writes
 * values into the SOAP body as they are. Recurrence is not written yet.
 */
/**
 * The library's TimeZoneInfo for a Windows zone. Its own list lacks some zones CLDR has
 * (Volgograd, Yukon, Sudan …, none with daylight saving today): those are described by their
 * current offset, which Exchange reads with the id. A zone neither knows is left unwritten
 * (an update keeps the item's zone).
 */
function timeZoneInfoOf(windowsId: string, iana: string | undefined): ews.TimeZoneInfo | undefined {
  try {
    return ews.TimeZoneInfo.FindSystemTimeZoneById(windowsId);
  } catch {
    if (!iana) return undefined;
    const minutes = Math.round(zoneOffsetMs(Date.now(), iana) / 60_000);
    return ews.TimeZoneInfo.CreateCustomTimeZone(windowsId, ews.TimeSpan.FromMinutes(minutes), windowsId, windowsId);
  }
}

const NOTHING_KEPT: KeptProperties = new Set();

/** Writes the fields onto the item, but those the update keeps (unset properties are not sent). */
function applyFields(item: ews.Appointment | ews.Task, f: ItemFields, keep: KeptProperties = NOTHING_KEPT): void {
  if (!keep.has('subject')) item.Subject = escapeXml(f.subject ?? '');
  if (f.body !== undefined && !keep.has('body')) item.Body = new ews.MessageBody(ews.BodyType.Text, escapeXml(f.body));
  if (!keep.has('private')) item.Sensitivity = f.private ? ews.Sensitivity.Private : ews.Sensitivity.Normal;
  if (f.typeCategory) {
    // the record's type as a category: the item's own (bound) categories, the mapped ones replaced
    const current = read(() => item.Categories)?.GetEnumerator() ?? [];
    const next = withTypeCategory(current, f.typeCategory);
    if (next.join('\n') !== current.join('\n')) item.Categories = new ews.StringList(next.map(escapeXml));
  }
  if (item instanceof ews.Appointment) {
    if (!keep.has('location')) item.Location = escapeXml(f.location ?? '');
    if (f.reminder !== undefined && !keep.has('reminder')) {
      item.IsReminderSet = f.reminder !== null;
      if (f.reminder !== null) item.ReminderMinutesBeforeStart = f.reminder;
    }
    if (keep.has('start')) return;
    const zone = (f.timeZone ? windowsFromIana(f.timeZone) : undefined) ?? f.timeZoneWindows;
    const info = zone ? timeZoneInfoOf(zone, f.timeZone) : undefined;
    if (info) item.StartTimeZone = info;
    if (f.start) item.Start = new ews.DateTime(Date.parse(f.start));
    if (f.end) item.End = new ews.DateTime(Date.parse(f.end));
    item.IsAllDayEvent = f.allDay ?? false;
    // Writing Recurrence resets a series (its exceptions and deleted occurrences go), so
    // only a changed rule is written.
    const recurrence = recurrenceOf(f);
    // a series written as a single appointment would lose its other occurrences: refused (parked)
    if (f.recurrence?.rrule && !recurrence) throw ewsError('ErrorUnsupportedRecurrence', `EWS cannot express the recurrence rule ${f.recurrence.rrule}`);
    const current = read(() => item.Recurrence);
    const currentPattern = current ? patternOf(current) : undefined;
    const currentRule = currentPattern ? `${toRrule(currentPattern)}|${currentPattern.startDate}` : undefined;
    const rule = recurrence ? `${f.recurrence!.rrule}|${localDate(f.start!, f.timeZone)}` : undefined;
    if (recurrence && rule !== currentRule) item.Recurrence = recurrence;
  } else {
    const due = f.due ?? f.end ?? f.start;
    if (due && !keep.has('due')) item.DueDate = new ews.DateTime(Date.parse(due));
    if (!keep.has('done')) item.Status = f.done ? ews.TaskStatus.Completed : ews.TaskStatus.NotStarted;
  }
}
