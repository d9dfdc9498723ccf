import { childNamed, type XmlElement } from '../../shared/safe-xml.js';
import { EwsResponseError, perElement, requireOccurrence, resolveItem, type EwsContext } from '../ews-context.js';
import { changeKeyOf, occurrenceIdOf, parseChangeKey } from '../ids.js';
import { DICTIONARY_ELEMENTS, elementOfFieldUri, SERVER_MANAGED, type ItemKind } from '../item-properties.js';
import { extendedKey } from '../item-shape.js';
import { itemIdXml, ItemValueError, readExtended, readPropertyValue, withDefaults, zoneOfItemElement } from '../item-xml.js';
import type { PropertyValue, StoredItem } from '../mailbox-store.js';
import { occurrenceAt, pruneExceptions } from '../recurrence.js';
import { operationResponse, responseMessage } from '../soap.js';
import { checkMeetingMessages } from '../meeting-messages.js';
import { el, wrap } from '../xml-writer.js';
import { checkTimes } from './create-item.js';

/** Which element an update path names, for this kind; throws ErrorInvalidPropertySet otherwise. */
function targetElement(kind: ItemKind, path: XmlElement): string {
  if (path.local === 'FieldURI') {
    const name = elementOfFieldUri(kind, path.attrs.FieldURI ?? '');
    if (!name) throw new EwsResponseError('ErrorInvalidPropertySet', `The property ${path.attrs.FieldURI} is not valid for this object type.`);
    if (SERVER_MANAGED.has(name)) throw new EwsResponseError('ErrorInvalidPropertySet', `The property ${path.attrs.FieldURI} is read-only.`);
    return name;
  }
  if (path.local === 'IndexedFieldURI') {
    const uri = path.attrs.FieldURI ?? '';
    if (uri === 'contacts:EmailAddress') return 'EmailAddresses';
    if (uri === 'contacts:PhoneNumber') return 'PhoneNumbers';
    if (uri === 'contacts:ImAddress') return 'ImAddresses';
    if (uri.startsWith('contacts:PhysicalAddress')) return 'PhysicalAddresses';
    throw new EwsResponseError('ErrorInvalidPropertySet', `The indexed property ${uri} is not valid for this object type.`);
  }
  throw new EwsResponseError('ErrorInvalidPropertySet', `Unsupported property path <${path.name}>.`);
}

/** Merges dictionary entries (by Key, field by field) into the stored dictionary. */
function mergeDictionary(stored: PropertyValue | undefined, incoming: XmlElement): XmlElement {
  const entries = new Map<string, XmlElement>();
  if (typeof stored === 'object') for (const e of stored.children) entries.set(e.attrs.Key ?? '', e);
  for (const e of incoming.children) {
    const key = e.attrs.Key ?? '';
    const before = entries.get(key);
    if (before && e.children.length) {
      // PhysicalAddress entries update field by field (Street, City, …)
      const fields = new Map(before.children.map((c) => [c.local, c]));
      for (const c of e.children) fields.set(c.local, c);
      entries.set(key, { ...e, children: [...fields.values()] });
    } else {
      entries.set(key, e);
    }
  }
  return { ...incoming, children: [...entries.values()] };
}

function removeDictionaryEntry(stored: PropertyValue | undefined, key: string): PropertyValue | undefined {
  if (typeof stored !== 'object') return undefined;
  const children = stored.children.filter((e) => e.attrs.Key !== key);
  return children.length ? { ...stored, children } : undefined;
}

interface Target {
  kind: ItemKind;
  props: Record<string, PropertyValue>;
  extended: StoredItem['extended'];
}

function applyUpdate(ctx: EwsContext, target: Target, update: XmlElement, zoneItem: XmlElement | undefined): void {
  const path = update.children.find((c) => c.local === 'FieldURI' || c.local === 'IndexedFieldURI' || c.local === 'ExtendedFieldURI');
  if (!path) throw new EwsResponseError('ErrorInvalidRequest', `${update.local} needs a FieldURI, IndexedFieldURI or ExtendedFieldURI.`);
  const holder = update.children.find((c) => c !== path);
  if (path.local === 'ExtendedFieldURI') {
    if (update.local === 'DeleteItemField') {
      target.extended.delete(extendedKey(path));
      return;
    }
    const property = holder && childNamed(holder, 'ExtendedProperty');
    const entry = property && readExtended(property);
    if (!entry) throw new EwsResponseError('ErrorInvalidRequest', 'SetItemField with an ExtendedFieldURI needs an ExtendedProperty value.');
    target.extended.set(entry[0], entry[1]);
    return;
  }
  const name = targetElement(target.kind, path);
  if (update.local === 'DeleteItemField') {
    if (path.local === 'IndexedFieldURI') {
      const remaining = removeDictionaryEntry(target.props[name], path.attrs.FieldIndex ?? '');
      if (remaining === undefined) delete target.props[name];
      else target.props[name] = remaining;
    } else {
      delete target.props[name];
    }
    return;
  }
  const valueElement = holder && childNamed(holder, name);
  if (!valueElement) throw new EwsResponseError('ErrorIncorrectUpdatePropertyCount', `${update.local} for ${name} must carry exactly that property.`);
  const zone = zoneOfItemElement(zoneItem ?? holder!, ctx.zone);
  let value: PropertyValue;
  try {
    value = name === 'Recurrence' ? withDefaults(readPropertyValue(valueElement, zone)) : readPropertyValue(valueElement, zone);
  } catch (err) {
    if (err instanceof ItemValueError) throw new EwsResponseError(err.code, err.message);
    throw err;
  }
  if (DICTIONARY_ELEMENTS.has(name) && typeof value === 'object') {
    target.props[name] = mergeDictionary(target.props[name], value);
  } else if (update.local === 'AppendToItemField') {
    // Body text is appended; arrays (attendees, categories) get the new entries added.
    const before = target.props[name];
    if (typeof before === 'object' && typeof value === 'object') {
      target.props[name] = { ...before, text: before.text + value.text, children: [...before.children, ...value.children] };
    } else if (typeof before === 'string' && typeof value === 'string') {
      target.props[name] = before + value;
    } else {
      target.props[name] = value;
    }
  } else {
    target.props[name] = value;
  }
}

/** UpdateItem with ChangeKey checks (ConflictResolution) and occurrence exceptions. */
export function updateItem(ctx: EwsContext): string {
  const resolution = ctx.body.attrs.ConflictResolution ?? 'AutoResolve';
  const changes = childNamed(ctx.body, 'ItemChanges')?.children ?? [];
  const messages = perElement(
    changes,
    (change) => {
      const ref = change.children.find((c) => c.local === 'ItemId' || c.local === 'OccurrenceItemId' || c.local === 'RecurringMasterItemId');
      if (!ref) throw new EwsResponseError('ErrorInvalidRequest', 'ItemChange needs an ItemId.');
      const { item, occurrenceIndex, changeKey } = resolveItem(ctx, ref);
      let conflicts = 0;
      if (changeKey !== undefined && changeKey !== changeKeyOf(item.version)) {
        if (parseChangeKey(changeKey) === undefined) throw new EwsResponseError('ErrorInvalidChangeKey', 'The change key is invalid.');
        if (resolution === 'NeverOverwrite') {
          throw new EwsResponseError('ErrorIrresolvableConflict', 'The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.');
        }
        if (resolution === 'AutoResolve') conflicts = 1;
      }
      const updates = childNamed(change, 'Updates')?.children ?? [];
      let target: Target;
      let occurrenceStart: number | undefined;
      if (occurrenceIndex !== undefined) {
        const occurrence = requireOccurrence((i) => occurrenceAt(item, i), occurrenceIndex);
        occurrenceStart = occurrence.originalStart;
        const existing = item.modifiedOccurrences?.get(occurrence.originalStart);
        target = { kind: item.kind, props: { ...(existing?.props ?? {}) }, extended: new Map() };
      } else {
        target = { kind: item.kind, props: { ...item.props }, extended: new Map(item.extended) };
      }
      for (const update of updates) applyUpdate(ctx, target, update, undefined);
      if (item.kind === 'CalendarItem') checkMeetingMessages(ctx, 'update', { ...item.props, ...target.props });
      if (occurrenceStart !== undefined) {
        (item.modifiedOccurrences ??= new Map()).set(occurrenceStart, { props: target.props });
        checkTimes({ ...item.props, ...target.props });
      } else {
        checkTimes(target.props);
        item.props = target.props;
        item.extended = target.extended;
        pruneExceptions(item);
      }
      ctx.store.touch(ctx.mailbox, item);
      const idXml = occurrenceIndex !== undefined
        ? el('t:ItemId', null, { Id: occurrenceIdOf(item.mailbox, item.seq, occurrenceIndex), ChangeKey: changeKeyOf(item.version) })
        : itemIdXml(item);
      return responseMessage('UpdateItem', wrap('m:Items', wrap(`t:${item.kind}`, idXml)) + `<m:ConflictResults><t:Count>${conflicts}</t:Count></m:ConflictResults>`);
    },
    (err) => responseMessage('UpdateItem', '<m:Items/>', { code: err.code, text: err.message }),
  );
  return operationResponse('UpdateItem', messages);
}
