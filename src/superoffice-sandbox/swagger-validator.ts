import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';

type Schema = Record<string, unknown>;

/**
 * Test mode: every request body the simulator receives and every answer it gives is checked
 * against SuperOffice's published Swagger 2.0 definitions (../shared/superoffice-api), as the
 * EWS sandbox checks its messages against messages.xsd. Known differences between the
 * definitions and what SuperOffice sends are normalised first: it writes null for an absent
 * object, string or list, which Swagger 2.0 cannot say; a .NET `object` (an archive row's
 * values) is written as `type: object` but holds any JSON value; and a [Flags] enum
 * (RecurrenceWeekPattern.Weekdays) is written the .NET way, "Monday, Wednesday". The check
 * is stricter than the definitions in one way: a property a definition does not declare is
 * a problem (the definitions never say additionalProperties, so a typo would pass unseen).
 */
export class SwaggerValidator {
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();
  readonly problems: string[] = [];

  constructor(definitions: Record<string, Schema>) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const normalised: Record<string, Schema> = {};
    for (const [name, schema] of Object.entries(definitions)) normalised[name] = normalise(schema);
    const week = normalised['SuperOffice.CRM.Services.RecurrenceWeekPattern'] as { properties?: Record<string, Schema> } | undefined;
    if (week?.properties?.Weekdays) week.properties.Weekdays = flags(definitions['SuperOffice.CRM.Services.RecurrenceWeekPattern']);
    this.ajv.addSchema({ $id: 'so', definitions: normalised });
  }

  /** Reads the definitions of every file given (the REST file and the agent files). */
  static fromFiles(paths: readonly string[]): SwaggerValidator {
    const definitions: Record<string, Schema> = {};
    for (const p of paths) Object.assign(definitions, (JSON.parse(readFileSync(p, 'utf8')) as { definitions: Record<string, Schema> }).definitions);
    return new SwaggerValidator(definitions);
  }

  /** Checks `value` against definition `name`; a problem is recorded with `where`. */
  check(where: string, name: string, value: unknown): void {
    let validate = this.compiled.get(name);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `so#/definitions/${name}` });
      this.compiled.set(name, validate);
    }
    if (!validate(value)) {
      for (const e of validate.errors ?? []) this.problems.push(`${where}: ${name}${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
    }
  }

  /** An array of definition `name`. */
  checkArray(where: string, name: string, value: unknown): void {
    if (!Array.isArray(value)) {
      this.problems.push(`${where}: expected an array of ${name}`);
      return;
    }
    value.forEach((v, i) => this.check(`${where}[${i}]`, name, v));
  }
}

function normalise(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (out.properties && typeof out.properties === 'object') {
    const props: Record<string, Schema> = {};
    for (const [k, v] of Object.entries(out.properties as Record<string, Schema>)) props[k] = nullable(normalise(v));
    out.properties = props;
    if (out.additionalProperties === undefined) out.additionalProperties = false;
  }
  if (out.items && typeof out.items === 'object') out.items = normalise(out.items as Schema);
  if (typeof out.$ref === 'string') out.$ref = (out.$ref as string).replace('#/definitions/', 'so#/definitions/');
  if (out.additionalProperties && typeof out.additionalProperties === 'object') {
    const extra = out.additionalProperties as Schema;
    // a dictionary of .NET `object`: any JSON value
    out.additionalProperties = extra.type === 'object' && !extra.properties && !extra.additionalProperties ? {} : normalise(extra);
  }
  return out;
}

/** A [Flags] enum: one or more of its names, comma-separated. */
function flags(definition: Schema | undefined): Schema {
  const names = ((definition?.properties as Record<string, Schema> | undefined)?.Weekdays?.enum as string[] | undefined) ?? [];
  return { type: ['string', 'null'], pattern: `^(${names.join('|')})(, (${names.join('|')}))*$` };
}

/** SuperOffice writes null for an absent object, string or array. */
function nullable(schema: Schema): Schema {
  if (schema.$ref) return { anyOf: [{ type: 'null' }, schema] };
  if (schema.type === 'string' || schema.type === 'object' || schema.type === 'array') {
    const { enum: values, ...rest } = schema;
    return values ? { anyOf: [{ type: 'null' }, { ...rest, enum: values }] } : { ...rest, type: [schema.type, 'null'] };
  }
  return schema;
}
