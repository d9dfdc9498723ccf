// Microsoft Graph v1.0: the mailbox store and change reader over Graph (Exchange Online).
export { GraphApiError } from './graph-error.js';
export { GraphHttp, type GraphHttpOptions, type GraphTokens, type GraphResponse, type BatchPart } from './graph-http.js';
export { GraphMailboxStore, type GraphStoreOptions } from './graph-store.js';
export { STAMP_PROPERTY_ID, fieldsOfEvent, eventBodyOf, type GraphEvent } from './event-fields.js';
export { NotificationReceiver } from './notification-receiver.js';
export { EventHubReceiver, eventHubOf, type EventHubReceiverOptions } from './event-hub-receiver.js';
export { type NotificationInbox, type ReceivedNotification } from './notification-inbox.js';
export { GraphNotificationChannel } from './graph-notification-channel.js';
export { openGraph, type OpenedGraph } from './open-graph.js';
export { openNotificationInbox } from './open-notification-inbox.js';
export { checkGraphMailbox } from './graph-mailbox-check.js';
