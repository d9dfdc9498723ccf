import { assertIdentifier } from '../state/database.js';

/**
 * The reference CRM: a SuperOffice-shaped schema (associate, contact, person, appointment
 * with type 1 = diary appointment, 2 = task) and a change_log filled by triggers on every
 * insert, update and delete — like SuperOffice's travel transaction log. `origin` tells
 * the sync's own writes (it sets ecs.origin in its transactions) from users' writes.
 * Idempotent: running it again migrates nothing twice. The same SQL runs on PostgreSQL
 * and on PGlite.
 */
export function referenceSchemaSql(schemaName: string): string {
  const s = assertIdentifier(schemaName);
  return `
create schema if not exists ${s};

create table if not exists ${s}.associate (
  associate_id serial primary key,
  name text,
  email text unique,
  active boolean not null default true
);

create table if not exists ${s}.contact (
  contact_id serial primary key,
  name text,
  department text,
  registered timestamptz not null default now(),
  updated timestamptz not null default now()
);

create table if not exists ${s}.person (
  person_id serial primary key,
  contact_id int references ${s}.contact(contact_id) on delete set null,
  firstname text,
  lastname text,
  email text,
  phone text,
  registered timestamptz not null default now(),
  updated timestamptz not null default now()
);
create index if not exists person_email on ${s}.person (lower(email));

create table if not exists ${s}.appointment (
  appointment_id serial primary key,
  associate_id int not null references ${s}.associate(associate_id),
  type smallint not null check (type in (1, 2)),
  title text,
  description text,
  location text,
  start_at timestamptz,
  end_at timestamptz,
  time_zone text,
  all_day boolean not null default false,
  private boolean not null default false,
  done boolean not null default false,
  recurrence_rule text,
  mother_id int,
  contact_id int,
  person_id int,
  registered timestamptz not null default now(),
  updated timestamptz not null default now(),
  updated_count int not null default 0
);
create index if not exists appointment_associate on ${s}.appointment (associate_id);
create index if not exists appointment_mother on ${s}.appointment (mother_id);
-- an exception of a recurring series: the series' row and the occurrence's original start
-- a hybrid organisation: where the user's mailbox lives (null: the mailbox file or Autodiscover says)
alter table ${s}.associate add column if not exists mailbox_home text check (mailbox_home in ('on-premises', 'online'));
-- the sync policy: which way the user's mailbox is synced (null: the mailbox file or <sync direction> says)
alter table ${s}.associate add column if not exists sync_direction text check (sync_direction in ('two-way', 'to-crm', 'to-exchange', 'off'));
alter table ${s}.appointment add column if not exists series_id int references ${s}.appointment(appointment_id) on delete cascade;
alter table ${s}.appointment add column if not exists original_start timestamptz;
create index if not exists appointment_series on ${s}.appointment (series_id) where series_id is not null;

-- the sync's own key on a row it created (a create cut short is found by it), and who wrote
-- the row's current version ('sync' or 'user'), as SuperOffice has UpdatedBy
alter table ${s}.appointment add column if not exists sync_stamp text;
alter table ${s}.appointment add column if not exists updated_by text not null default 'user';
create index if not exists appointment_sync_stamp on ${s}.appointment (sync_stamp) where sync_stamp is not null;

-- a person as a contact card: owned by an associate ("our contact"), stamped and versioned like appointments
alter table ${s}.person add column if not exists associate_id int references ${s}.associate(associate_id) on delete set null;
alter table ${s}.person add column if not exists middlename text, add column if not exists title text, add column if not exists department text,
  add column if not exists email2 text, add column if not exists email3 text, add column if not exists mobile text, add column if not exists home_phone text,
  add column if not exists fax text, add column if not exists other_phone text, add column if not exists street text, add column if not exists city text,
  add column if not exists state text, add column if not exists zip text, add column if not exists country text, add column if not exists notes text,
  add column if not exists categories text[], add column if not exists sync_stamp text, add column if not exists updated_by text not null default 'user',
  add column if not exists updated_count int not null default 0;
create index if not exists person_associate on ${s}.person (associate_id);
create index if not exists person_sync_stamp on ${s}.person (sync_stamp) where sync_stamp is not null;

-- an activity's type by name (appointment and task types; Outlook categories map to them, <sync><category>)
alter table ${s}.appointment add column if not exists activity_type text;
-- the appointment's alarm, as SuperOffice has it (HasAlarm, AlarmLeadTime); null: never said (a row from before)
alter table ${s}.appointment add column if not exists alarm boolean, add column if not exists alarm_minutes int check (alarm_minutes between 0 and 40320);

-- static selections of persons, and the associates who subscribe to them (each gets a contact folder)
create table if not exists ${s}.selection (
  selection_id serial primary key,
  name text not null,
  associate_id int references ${s}.associate(associate_id) on delete set null,
  target text not null default 'person',
  registered timestamptz not null default now(),
  updated timestamptz not null default now()
);
create table if not exists ${s}.selection_member (
  selection_id int not null references ${s}.selection(selection_id) on delete cascade,
  person_id int not null references ${s}.person(person_id) on delete cascade,
  primary key (selection_id, person_id)
);
create index if not exists selection_member_person on ${s}.selection_member (person_id);
create table if not exists ${s}.selection_subscriber (
  selection_id int not null references ${s}.selection(selection_id) on delete cascade,
  associate_id int not null references ${s}.associate(associate_id) on delete cascade,
  primary key (selection_id, associate_id)
);

create table if not exists ${s}.change_log (
  change_id bigserial primary key,
  ttime timestamptz not null default clock_timestamp(),
  table_name text not null,
  record_id int not null,
  op char(1) not null check (op in ('c', 'u', 'd')),
  origin text not null default 'user'
);
-- the owning associate, so a delete (whose row is gone) can still be routed
alter table ${s}.change_log add column if not exists owner_id int;

create or replace function ${s}.touch_row() returns trigger language plpgsql as $$
begin
  new.updated := now();
  if tg_table_name in ('appointment', 'person') then
    new.updated_count := coalesce(old.updated_count, 0) + 1;
  end if;
  return new;
end $$;

create or replace function ${s}.mark_writer() returns trigger language plpgsql as $$
begin
  new.updated_by := coalesce(nullif(current_setting('ecs.origin', true), ''), 'user');
  return new;
end $$;

create or replace function ${s}.log_change() returns trigger language plpgsql as $$
declare
  row_data jsonb := case when tg_op = 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
  id bigint;
begin
  insert into ${s}.change_log (table_name, record_id, owner_id, op, origin)
  values (tg_table_name, (row_data ->> tg_argv[0])::int, (row_data ->> 'associate_id')::int,
          case tg_op when 'INSERT' then 'c' when 'UPDATE' then 'u' else 'd' end,
          coalesce(nullif(current_setting('ecs.origin', true), ''), 'user'))
  returning change_id into id;
  perform pg_notify('${s}_changes', id::text);
  return null;
end $$;

drop trigger if exists appointment_touch on ${s}.appointment;
create trigger appointment_touch before update on ${s}.appointment for each row execute function ${s}.touch_row();
drop trigger if exists contact_touch on ${s}.contact;
create trigger contact_touch before update on ${s}.contact for each row execute function ${s}.touch_row();
drop trigger if exists person_touch on ${s}.person;
create trigger person_touch before update on ${s}.person for each row execute function ${s}.touch_row();

drop trigger if exists appointment_writer on ${s}.appointment;
create trigger appointment_writer before insert or update on ${s}.appointment for each row execute function ${s}.mark_writer();

drop trigger if exists person_writer on ${s}.person;
create trigger person_writer before insert or update on ${s}.person for each row execute function ${s}.mark_writer();

drop trigger if exists appointment_log on ${s}.appointment;
create trigger appointment_log after insert or update or delete on ${s}.appointment for each row execute function ${s}.log_change('appointment_id');
drop trigger if exists associate_log on ${s}.associate;
create trigger associate_log after insert or update or delete on ${s}.associate for each row execute function ${s}.log_change('associate_id');
drop trigger if exists contact_log on ${s}.contact;
create trigger contact_log after insert or update or delete on ${s}.contact for each row execute function ${s}.log_change('contact_id');
drop trigger if exists person_log on ${s}.person;
create trigger person_log after insert or update or delete on ${s}.person for each row execute function ${s}.log_change('person_id');
-- a selection's rename, members and subscribers are all changes of the selection (record_id = selection_id)
drop trigger if exists selection_touch on ${s}.selection;
create trigger selection_touch before update on ${s}.selection for each row execute function ${s}.touch_row();
drop trigger if exists selection_log on ${s}.selection;
create trigger selection_log after insert or update or delete on ${s}.selection for each row execute function ${s}.log_change('selection_id');
drop trigger if exists selection_member_log on ${s}.selection_member;
create trigger selection_member_log after insert or update or delete on ${s}.selection_member for each row execute function ${s}.log_change('selection_id');
drop trigger if exists selection_subscriber_log on ${s}.selection_subscriber;
create trigger selection_subscriber_log after insert or update or delete on ${s}.selection_subscriber for each row execute function ${s}.log_change('selection_id');
`;
}
