/**
 * Which item properties the sandbox knows, in the order types.xsd declares them (a
 * response must follow that order to validate), with their FieldURI and value type.
 */
export type ItemKind = 'CalendarItem' | 'Task' | 'Contact';

export const ITEM_KINDS: readonly ItemKind[] = ['CalendarItem', 'Task', 'Contact'];

/** ItemType's sequence (the properties every item kind shares), then each kind's own. */
const ITEM_SEQUENCE = [
  'MimeContent', 'ItemId', 'ParentFolderId', 'ItemClass', 'Subject', 'Sensitivity', 'Body', 'Attachments', 'DateTimeReceived', 'Size',
  'Categories', 'Importance', 'InReplyTo', 'IsSubmitted', 'IsDraft', 'IsFromMe', 'IsResend', 'IsUnmodified', 'InternetMessageHeaders',
  'DateTimeSent', 'DateTimeCreated', 'ResponseObjects', 'ReminderDueBy', 'ReminderIsSet', 'ReminderNextTime', 'ReminderMinutesBeforeStart',
  'DisplayCc', 'DisplayTo', 'DisplayBcc', 'HasAttachments', 'ExtendedProperty', 'Culture', 'EffectiveRights', 'LastModifiedName',
  'LastModifiedTime', 'IsAssociated',
] as const;

const KIND_SEQUENCE: Record<ItemKind, readonly string[]> = {
  CalendarItem: [
    'UID', 'RecurrenceId', 'DateTimeStamp', 'Start', 'End', 'OriginalStart', 'IsAllDayEvent', 'LegacyFreeBusyStatus', 'Location', 'When',
    'IsMeeting', 'IsCancelled', 'IsRecurring', 'MeetingRequestWasSent', 'IsResponseRequested', 'CalendarItemType', 'MyResponseType',
    'Organizer', 'RequiredAttendees', 'OptionalAttendees', 'Resources', 'ConflictingMeetingCount', 'AdjacentMeetingCount', 'Duration',
    'TimeZone', 'AppointmentReplyTime', 'AppointmentSequenceNumber', 'AppointmentState', 'Recurrence', 'FirstOccurrence', 'LastOccurrence',
    'ModifiedOccurrences', 'DeletedOccurrences', 'MeetingTimeZone', 'StartTimeZone', 'EndTimeZone', 'ConferenceType', 'AllowNewTimeProposal',
    'IsOnlineMeeting', 'MeetingWorkspaceUrl', 'NetShowUrl', 'EnhancedLocation', 'StartWallClock', 'EndWallClock', 'StartTimeZoneId', 'EndTimeZoneId',
  ],
  Task: [
    'ActualWork', 'AssignedTime', 'BillingInformation', 'ChangeCount', 'Companies', 'CompleteDate', 'Contacts', 'DelegationState', 'Delegator',
    'DueDate', 'IsAssignmentEditable', 'IsComplete', 'IsRecurring', 'IsTeamTask', 'Mileage', 'Owner', 'PercentComplete', 'Recurrence',
    'StartDate', 'Status', 'StatusDescription', 'TotalWork',
  ],
  Contact: [
    'FileAs', 'FileAsMapping', 'DisplayName', 'GivenName', 'Initials', 'MiddleName', 'Nickname', 'CompleteName', 'CompanyName', 'EmailAddresses',
    'PhysicalAddresses', 'PhoneNumbers', 'AssistantName', 'Birthday', 'BusinessHomePage', 'Children', 'Companies', 'ContactSource', 'Department',
    'Generation', 'ImAddresses', 'JobTitle', 'Manager', 'Mileage', 'OfficeLocation', 'PostalAddressIndex', 'Profession', 'SpouseName', 'Surname',
    'WeddingAnniversary', 'Notes',
  ],
};

/** Element order of each kind: ItemType's sequence, then the kind's. */
export const ELEMENT_ORDER: Record<ItemKind, readonly string[]> = {
  CalendarItem: [...ITEM_SEQUENCE, ...KIND_SEQUENCE.CalendarItem],
  Task: [...ITEM_SEQUENCE, ...KIND_SEQUENCE.Task],
  Contact: [...ITEM_SEQUENCE, ...KIND_SEQUENCE.Contact],
};

const FIELD_PREFIX: Record<ItemKind, string> = { CalendarItem: 'calendar', Task: 'task', Contact: 'contacts' };
const ITEM_ELEMENTS = new Set<string>(ITEM_SEQUENCE);

/** FieldURI (e.g. "calendar:Start") → element name, for the kind; undefined if unknown here. */
export function elementOfFieldUri(kind: ItemKind, fieldUri: string): string | undefined {
  const [prefix, name] = fieldUri.split(':');
  if (!name) return undefined;
  if (prefix === 'item' && ITEM_ELEMENTS.has(name)) return name;
  if (prefix === FIELD_PREFIX[kind] && KIND_SEQUENCE[kind].includes(name)) return name;
  return undefined;
}

export const DATE_TIME_ELEMENTS = new Set([
  'DateTimeReceived', 'DateTimeSent', 'DateTimeCreated', 'ReminderDueBy', 'ReminderNextTime', 'LastModifiedTime', 'RecurrenceId',
  'DateTimeStamp', 'Start', 'End', 'OriginalStart', 'AppointmentReplyTime', 'AssignedTime', 'CompleteDate', 'DueDate', 'StartDate',
  'Birthday', 'WeddingAnniversary', 'StartWallClock', 'EndWallClock',
]);

/** Set by the server; what a client sends for them is ignored, as Exchange does. */
export const SERVER_MANAGED = new Set([
  'ItemId', 'ParentFolderId', 'DateTimeCreated', 'LastModifiedTime', 'LastModifiedName', 'Size', 'HasAttachments', 'IsAssociated',
  'CalendarItemType', 'IsRecurring', 'FirstOccurrence', 'LastOccurrence', 'ModifiedOccurrences', 'DeletedOccurrences', 'ChangeCount',
  'IsComplete', 'MyResponseType', 'IsMeeting', 'DateTimeStamp', 'AppointmentState', 'EffectiveRights', 'ResponseObjects', 'MimeContent',
  'DisplayTo', 'DisplayCc', 'DisplayBcc', 'ConflictingMeetingCount', 'AdjacentMeetingCount', 'Duration', 'TimeZone', 'When',
]);

/** BaseShape Default, per kind (the EWS reference's default property sets). */
export const DEFAULT_SHAPE: Record<ItemKind, ReadonlySet<string>> = {
  CalendarItem: new Set(['ItemId', 'Subject', 'HasAttachments', 'IsAssociated', 'Start', 'End', 'LegacyFreeBusyStatus', 'Location', 'CalendarItemType', 'Organizer']),
  Task: new Set(['ItemId', 'Subject', 'HasAttachments', 'IsAssociated', 'DueDate', 'PercentComplete', 'StartDate', 'Status']),
  Contact: new Set(['ItemId', 'Subject', 'HasAttachments', 'IsAssociated', 'DisplayName', 'GivenName', 'Surname', 'CompanyName', 'EmailAddresses', 'PhoneNumbers']),
};

/** Not part of AllProperties in Exchange either. */
export const NOT_IN_ALL_PROPERTIES = new Set(['MimeContent', 'ExtendedProperty', 'InternetMessageHeaders', 'Attachments']);

export const ITEM_CLASS: Record<ItemKind, string> = { CalendarItem: 'IPM.Appointment', Task: 'IPM.Task', Contact: 'IPM.Contact' };

/** Which kind a well-known folder holds. */
export const FOLDER_KIND: Record<string, ItemKind> = { calendar: 'CalendarItem', tasks: 'Task', contacts: 'Contact' };

/** Dictionary properties whose entries are addressed by IndexedFieldURI and merged by Key. */
export const DICTIONARY_ELEMENTS = new Set(['EmailAddresses', 'PhysicalAddresses', 'PhoneNumbers', 'ImAddresses']);
