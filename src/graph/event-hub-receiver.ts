import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { Subject } from 'rxjs';
import { notificationsOf, type NotificationInbox, type ReceivedNotification } from './notification-inbox.js';

export interface EventHubReceiverOptions {
  /** The notificationUrl Graph is given: EventHub:https://<vault>.vault.azure.net/secrets/<secret>?tenantId=<domain>. */
  readonly notificationUrl: string;
  /** The hub's connection string this sync listens with (a Listen policy). Sensitive. */
  readonly connectionString: string;
  /** TLS and SASL PLAIN, as Azure's Kafka endpoint requires; false only for a plain broker standing in. */
  readonly tls: boolean;
  readonly clientState: () => Promise<string>;
  /** Called when the hub could not be read (logged by the caller); the safety poll covers the gap. */
  readonly onError?: (err: Error) => void;
}

/** Where an Event Hub is reached through its Kafka endpoint: the broker (namespace:9093) and the topic (the hub). */
export function eventHubOf(connectionString: string): { broker: string; hub: string } {
  const endpoint = /(?:^|;)\s*Endpoint=sb:\/\/([^;/]+)/i.exec(connectionString)?.[1];
  const hub = /(?:^|;)\s*EntityPath=([^;]+)/i.exec(connectionString)?.[1];
  if (!endpoint || !hub) throw new Error('not an Event Hub connection string (Endpoint=sb://<namespace>/;…;EntityPath=<hub>)');
  return { broker: endpoint.includes(':') ? endpoint : `${endpoint}:9093`, hub };
}

/**
 * Graph's notifications through an Azure Event Hub, read with kafkajs on the hub's Kafka
 * endpoint: no inbound port at all. Every instance reads the whole hub in a consumer group of
 * its own, from the newest message on, and acts on its own subscriptions' notifications only
 * (the source ignores other ids) — notifications are triggers: one missed while an instance
 * was down is covered by the delta read every start does, and by the safety poll.
 */
export class EventHubReceiver implements NotificationInbox {
  readonly notifications = new Subject<ReceivedNotification>();
  received = 0;
  rejected = 0;
  private consumer: Consumer | undefined;
  private started: Promise<void> | undefined;

  constructor(private readonly options: EventHubReceiverOptions) {}

  async urls(): Promise<{ notificationUrl: string; lifecycleNotificationUrl: string }> {
    this.started ??= this.listen();
    await this.started;
    return { notificationUrl: this.options.notificationUrl, lifecycleNotificationUrl: this.options.notificationUrl };
  }

  async close(): Promise<void> {
    this.notifications.complete();
    await this.consumer?.disconnect().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const { broker, hub } = eventHubOf(this.options.connectionString);
    const kafka = new Kafka({
      clientId: 'exchange-crm-sync', brokers: [broker], logLevel: logLevel.NOTHING,
      ...(this.options.tls ? { ssl: true, sasl: { mechanism: 'plain' as const, username: '$ConnectionString', password: this.options.connectionString } } : {}),
    });
    const consumer = kafka.consumer({ groupId: `exchange-crm-sync-notifications-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}` });
    this.consumer = consumer;
    // subscriptions are made once the group has its partitions: a notification sent in between would be missed
    const joined = new Promise<void>((resolve) => {
      const off = consumer.on(consumer.events.GROUP_JOIN, () => {
        off();
        resolve();
      });
    });
    consumer.on(consumer.events.CRASH, (e) => this.options.onError?.(e.payload.error));
    await consumer.connect();
    await consumer.subscribe({ topics: [hub], fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ message }) => {
        let value: unknown[];
        try {
          value = (JSON.parse(message.value?.toString('utf8') ?? '') as { value?: unknown[] }).value ?? [];
        } catch {
          this.rejected++;
          return;
        }
        const { accepted, refused } = notificationsOf(value, await this.options.clientState(), 'either');
        this.rejected += refused;
        this.received += accepted.length;
        for (const n of accepted) this.notifications.next(n);
      },
    });
    await joined;
  }
}
