import type { GraphSettings } from '../config/index.js';
import { EventHubReceiver } from './event-hub-receiver.js';
import type { NotificationInbox } from './notification-inbox.js';
import { NotificationReceiver } from './notification-receiver.js';

/** Where GraphNotify's notifications arrive, as <graph notify> says: our webhook or an Event Hub. */
export function openNotificationInbox(settings: GraphSettings, clientState: () => Promise<string>, onError?: (err: Error) => void): NotificationInbox {
  const { notify } = settings;
  if (notify.kind === 'eventhub') {
    return new EventHubReceiver({ notificationUrl: notify.eventHub.url, connectionString: notify.eventHub.connectionString, tls: notify.eventHub.tls, clientState, ...(onError ? { onError } : {}) });
  }
  return new NotificationReceiver({ host: notify.listen.host, port: notify.listen.port, ...(notify.notificationUrl ? { publicUrl: notify.notificationUrl } : {}), clientState });
}
