import type { FIELD_DIRECTIONS, SYNC_DIRECTIONS, SYNCED_FIELDS } from './setting-kinds.js';
/** The one configuration object the rest of the program sees: typed, validated, frozen. */

/** Which way a mailbox is synced (the policy's first rule). */
export type SyncDirectionSetting = (typeof SYNC_DIRECTIONS)[number];
/** Where a change goes: towards the CRM (Exchange → CRM) or towards Exchange. */
export type Towards = 'crm' | 'exchange';
/** A field of an appointment or task the operator can give a direction (<sync><field name>). */
export type SyncedField = (typeof SYNCED_FIELDS)[number];
export type FieldDirection = (typeof FIELD_DIRECTIONS)[number];

export type AdviseMode = 'EwsStream' | 'EwsPull' | 'GraphDelta' | 'GraphNotify';
export type SyncItemKind = 'appointments' | 'tasks' | 'contacts';
export type ConflictPolicy = 'last-writer-wins' | 'exchange-wins' | 'crm-wins';
/** What private Outlook items bring to the CRM: themselves, nothing, or a blocker. */
export type PrivateItems = 'sync' | 'skip' | 'busy';
export type MailboxSource = 'crm' | 'list' | 'file';
export type ExchangeVersion = 'Exchange2010_SP2' | 'Exchange2013' | 'Exchange2013_SP1' | 'Exchange2016';

export interface EwsSettings {
  /** null: no <ews> element — run against the built-in EWS sandbox. */
  readonly url: string | null;
  readonly user: string;
  /** Name of the environment variable holding the password (the file never holds it). */
  readonly passwordEnv: string;
  /** The password read from that variable; sensitive, never logged. */
  readonly password: string;
  readonly impersonation: boolean;
  /** Delegate access (impersonation false): the service account's EWSMaxSubscriptions and HangingConnectionLimit. */
  readonly maxSubscriptionsPerAccount?: number;
  readonly maxConnectionsPerAccount?: number;
  /** Delegate access: more service accounts ("ranks") beside user; passwords sensitive, never logged. */
  readonly accounts?: ReadonlyArray<{ readonly user: string; readonly passwordEnv: string; readonly password: string }>;
  readonly version: ExchangeVersion;
  /** TLS certificates are verified unless the operator turns it off explicitly. */
  readonly tlsVerify: boolean;
  readonly requestTimeoutMs: number;
  /** basic (the default) or ntlm: user and password; oauth: an app-only token (client credentials). */
  readonly auth?: 'basic' | 'ntlm' | 'oauth';
  /** auth="oauth": where tokens come from and how the app proves itself. */
  readonly oauth?: {
    readonly authority: string;
    readonly clientId: string;
    /** From the variable clientSecretEnv names; sensitive, never logged. Empty with a certificate. */
    readonly clientSecret: string;
    /** PEM file with the app's certificate and private key (recommended over a secret). */
    readonly certificateFile: string;
    readonly scope: string;
  };
  /** Extra CA certificates (PEM file) trusted for the token endpoint. */
  readonly caFile?: string;
  /** A hybrid organisation: whether Autodiscover is asked where mailboxes live, and its URL ('' beside EWS). */
  readonly autodiscover?: { readonly enabled: boolean; readonly url: string };
}

/** Microsoft Graph v1.0, app-only (`<graph>`). */
export interface GraphSettings {
  /** null: no <graph> element — the built-in sandbox's Graph endpoint. */
  readonly url: string | null;
  /** https://login.microsoftonline.com/<tenant>. */
  readonly authority: string;
  readonly clientId: string;
  /** From the variable clientSecretEnv names; sensitive, never logged. Empty with a certificate. */
  readonly clientSecret: string;
  readonly certificateFile: string;
  /** Extra CA certificates (PEM file) trusted for Graph and the token endpoint. */
  readonly caFile?: string;
  readonly timeoutMs: number;
  readonly pollIntervalMs: number;
  /** GraphNotify: where notifications are delivered. */
  readonly notify: {
    readonly kind: 'webhook' | 'eventhub';
    /** eventhub: the notificationUrl Graph is given, the connection string the sync listens with (sensitive) and whether TLS and SASL are used. */
    readonly eventHub: { readonly url: string; readonly connectionString: string; readonly tls: boolean };
    /** The listener of the webhook. */
    readonly listen: { readonly host: string; readonly port: number };
    /** The public https URL in front of it; null: the listener's own (loopback: the built-in sandbox, tests). */
    readonly notificationUrl: string | null;
    readonly subscriptionLifetimeMinutes: number;
    /** A read of every mailbox this often, whatever the notifications said. */
    readonly safetyPollMs: number;
  };
}

export interface ExchangeSettings {
  readonly mode: AdviseMode;
  /** A hybrid organisation: the mode of the mailboxes in Exchange Online (mode is then the on-premises one); null: one protocol. */
  readonly online: 'GraphNotify' | 'GraphDelta' | null;
  readonly pull: { readonly intervalMs: number; readonly concurrency: number; readonly subscriptionTimeoutMinutes: number };
  readonly stream: {
    readonly maxSubscriptionsPerConnection: number;
    readonly connectionLifetimeMs: number;
    readonly heartbeatTimeoutMs: number;
  };
  readonly ews: EwsSettings;
  readonly graph: GraphSettings;
  readonly mailboxes: {
    readonly source: MailboxSource;
    readonly list: readonly string[];
    /** <mailbox direction="…">: each named mailbox's direction, by lower-case address. */
    readonly directions: ReadonlyMap<string, SyncDirectionSetting>;
    /** Absolute path of the CSV file (source "file"), resolved against the config file's folder. */
    readonly file: string | null;
    readonly refreshMs: number;
  };
}

/** SuperOffice's Web API (`<crm type="superoffice">`). */
export interface SuperOfficeSettings {
  /** The tenant's …/api/v1; null: the built-in SuperOffice simulator. */
  readonly url: string | null;
  /** Sensitive: read from the environment variables the file names. */
  readonly credentials:
    | { readonly kind: 'basic'; readonly user: string; readonly password: string }
    | { readonly kind: 'ticket'; readonly ticket: string }
    | { readonly kind: 'bearer'; readonly token: string };
  /** SO-AppToken (sensitive); '' when none. */
  readonly appToken: string;
  readonly webhook: { readonly listen: { readonly host: string; readonly port: number }; readonly url: string | null; readonly secret: string } | null;
  readonly reconcileIntervalMs: number;
  readonly foreignApp: string;
  /** The Person archive column holding each user's direction on the user's own person ('' : none). */
  readonly directionField: string;
  readonly tlsVerify: boolean;
}

export interface CrmSettings {
  readonly type: 'embedded' | 'postgres' | 'superoffice';
  /** postgres: the connection URL (may hold a password: sensitive). */
  readonly url: string | null;
  readonly schema: string;
  /** The sync's own state (mappings, positions) lives in this schema, not in the CRM's tables. */
  readonly stateSchema: string;
  readonly pollIntervalMs: number;
  /** embedded: the PGlite data folder, absolute. */
  readonly path: string;
  /** superoffice: the Web API and how to reach it; null for the reference CRM. */
  readonly superoffice: SuperOfficeSettings | null;
}

/** A database the sync opens: PostgreSQL, or PGlite in a folder. */
export interface DatabaseSettings {
  readonly type: 'embedded' | 'postgres';
  /** postgres: the connection URL (may hold a password: sensitive). */
  readonly url: string | null;
  /** embedded: the PGlite data folder, absolute. */
  readonly path: string;
  /** postgres: connections in the pool. */
  readonly poolSize: number;
}

/** The sync's own state: mappings, positions. */
export interface StateSettings extends DatabaseSettings {
  /** In the reference CRM's own database (then type, url and path are the CRM's). */
  readonly shared: boolean;
  readonly schema: string;
}

export interface TransportSettings {
  readonly type: 'embedded' | 'kafka';
  readonly brokers: readonly string[];
  readonly topicPrefix: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly clientId: string;
  readonly ssl: boolean;
  /** kafka: compression of produced batches. */
  readonly compression: 'none' | 'gzip';
  readonly tlsVerify: boolean;
  readonly sasl: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string } | null;
  /** embedded: the data folder of the embedded log, absolute. */
  readonly path: string;
}

export interface SyncSettings {
  readonly items: readonly SyncItemKind[];
  /** Static CRM selections of persons → a contact folder per subscribing associate. */
  readonly selections: 'subscribed' | 'none';
  /** After a full resync: send on the deletes of mapped items the snapshot no longer lists, or only report them. */
  readonly snapshotDeletes: 'apply' | 'report';
  /** The delete breaker: percent (0: off), minimum count, window (ms). */
  readonly deleteBreaker: { readonly percent: number; readonly minimum: number; readonly windowMs: number };
  readonly conflict: ConflictPolicy;
  readonly windowPastDays: number;
  readonly windowFutureDays: number;
  readonly private: PrivateItems;
  /** Outlook categories an item must have one of (include, empty: any) and must have none of (exclude). */
  readonly categories: { readonly include: readonly string[]; readonly exclude: readonly string[] };
  /** Outlook categories that stand for CRM types (<category outlook crm>), in the file's order. */
  readonly categoryTypes: ReadonlyArray<{ readonly outlook: string; readonly crm: string }>;
  /** Per field, which way it travels (<field name direction>); fields not named travel both ways. */
  readonly fields: Readonly<Partial<Record<SyncedField, FieldDirection>>>;
  /** link: attendees link the record to CRM persons (SuperOffice: participants); none: not carried. */
  readonly attendees: 'link' | 'none';
  /** Which way mailboxes are synced unless the mailbox file says otherwise for one. */
  readonly direction: SyncDirectionSetting;
  readonly parallelism: number;
  /** The background verify: mailboxes per round (0: off), and how often. */
  readonly verifySample: { readonly perRound: number; readonly intervalMs: number };
}

export interface OpsSettings {
  readonly listen: { readonly host: string; readonly port: number };
  readonly shutdownTimeoutMs: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** auto: readable lines on a terminal, JSON otherwise. */
  readonly logFormat?: 'auto' | 'json' | 'pretty';
  /** V8's --heap-growing-percent for this process (0: V8's default). */
  readonly heapGrowingPercent: number;
  /** small: V8 favours memory (wasm on its baseline compiler, --optimize-for-size); auto: small when something is embedded. */
  readonly footprint: 'auto' | 'small' | 'fast';
}

export interface SandboxSettings {
  readonly mailboxes: number;
  readonly activity: number;
  readonly seed: number;
  /** Absolute folder of the sandbox's mailboxes; undefined: in memory. */
  readonly path: string | undefined;
}

export interface SyncConfig {
  /** Absolute path of the file this was read from. */
  readonly file: string;
  readonly exchange: ExchangeSettings;
  readonly crm: CrmSettings;
  readonly state: StateSettings;
  readonly transport: TransportSettings;
  readonly sync: SyncSettings;
  readonly ops: OpsSettings;
  /** Used only when there is no <ews> element (the built-in sandbox). */
  readonly sandbox: SandboxSettings;
}
