import { Kafka, logLevel, type Producer } from 'kafkajs';
import { GraphError } from './event-json.js';

/**
 * Graph's delivery to Azure Event Hubs (change-notifications-delivery-event-hubs.md): a
 * subscription's notificationUrl names an Azure Key Vault secret
 * ("EventHub:https://<vault>.vault.azure.net/secrets/<name>?tenantId=<domain>") holding the
 * hub's send connection string; Graph writes the same `{"value": [...]}` bodies a webhook gets
 * to the hub. An Event Hub speaks Kafka's protocol, so the sandbox's hub is a topic on a Kafka
 * broker — on loopback — named by a connection string stored in its key vault.
 */
export class EventHubDelivery {
  private readonly secrets = new Map<string, string>();
  private readonly producers = new Map<string, Promise<Producer>>();
  sent = 0;

  /** Stores a Key Vault secret: the connection string Graph sends with. */
  setSecret(secretUrl: string, connectionString: string): void {
    hubOf(connectionString); // refused now rather than at delivery
    this.secrets.set(secretUrl.replace(/\?.*$/, '').toLowerCase(), connectionString);
  }

  /** Is this notificationUrl an Event Hub one (whatever the sandbox knows of it)? */
  static isEventHubUrl(url: string): boolean {
    return /^EventHub:/i.test(url);
  }

  /** The hub a notificationUrl names; a 400 as Graph gives when its secret cannot be read. */
  target(notificationUrl: string): { broker: string; hub: string } {
    const m = /^EventHub:(https:\/\/[^/?]+\.vault\.azure\.net\/secrets\/[^?]+)\?tenantId=\S+$/i.exec(notificationUrl);
    if (!m) throw new GraphError(400, 'InvalidRequest', `An Event Hub notificationUrl is EventHub:https://<vault>.vault.azure.net/secrets/<secret>?tenantId=<domain>, not '${notificationUrl}'.`);
    const connectionString = this.secrets.get(m[1].toLowerCase());
    if (!connectionString) throw new GraphError(400, 'InvalidRequest', `The Key Vault secret ${m[1]} could not be read (the sandbox has no such secret: POST /sandbox/graph/key-vault).`);
    return hubOf(connectionString);
  }

  /** One delivery to the hub; throws when the hub does not take it (retried by the caller, as a webhook's). */
  async send(notificationUrl: string, body: unknown): Promise<void> {
    const { broker, hub } = this.target(notificationUrl);
    let producer = this.producers.get(broker);
    if (!producer) {
      producer = (async () => {
        const p = new Kafka({ clientId: 'sandbox-graph-change-tracking', brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).producer({ allowAutoTopicCreation: true });
        await p.connect();
        return p;
      })();
      this.producers.set(broker, producer);
      producer.catch(() => this.producers.delete(broker));
    }
    await (await producer).send({ topic: hub, messages: [{ value: JSON.stringify(body) }] });
    this.sent++;
  }

  async close(): Promise<void> {
    const all = [...this.producers.values()];
    this.producers.clear();
    for (const p of all) await p.then((x) => x.disconnect()).catch(() => undefined);
  }
}

/** The broker (Endpoint, loopback only) and hub (EntityPath) of a connection string. */
function hubOf(connectionString: string): { broker: string; hub: string } {
  const endpoint = /(?:^|;)\s*Endpoint=sb:\/\/([^;/]+)/i.exec(connectionString)?.[1];
  const hub = /(?:^|;)\s*EntityPath=([^;]+)/i.exec(connectionString)?.[1];
  if (!endpoint || !hub) throw new GraphError(400, 'InvalidRequest', 'The Key Vault secret is not an Event Hub connection string (Endpoint=sb://…;EntityPath=…).');
  const host = endpoint.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) throw new GraphError(400, 'InvalidRequest', `The sandbox delivers only to loopback, not ${host}.`);
  return { broker: endpoint.includes(':') ? endpoint : `${endpoint}:9093`, hub };
}
