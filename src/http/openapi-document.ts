import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WRITABLE_TYPES } from '../fhir/resource-types.ts';
import type { SearchParameterRegistry } from '../fhir/search/parameters.ts';

/** A JSON value as the description holds it. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface SearchParameterInfo {
  code: string;
  type: string;
  description?: string;
}

interface OpenApiInputs {
  /** The folder holding openapi.yaml (the description's source; it refers to ../mappings). */
  dir: string;
  publicUrl: string;
  version: string;
  /** The resource types the generic FHIR paths serve. */
  resourceTypes: readonly string[];
  searchParameters: (resourceType: string) => SearchParameterInfo[];
}

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function readData(file: string): Json {
  const text = readFileSync(file, 'utf8');
  return (file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Json;
}

/** Visits every object in a JSON tree, depth first; `visit` may change the object it is given. */
function walk(node: Json, visit: (obj: JsonObject) => void): void {
  if (Array.isArray(node)) for (const item of node) walk(item, visit);
  else if (isObject(node)) {
    visit(node);
    for (const value of Object.values(node)) walk(value, visit);
  }
}

/** `mappings/nts/schema.json` → `NtsRecord`; other files by their name. */
function componentName(file: string): string {
  const native = /mappings[\\/]([a-z]+)[\\/]schema\.json$/.exec(file);
  const base = native ? `${native[1]}-record` : (file.split(/[\\/]/).pop() ?? 'schema').replace(/\.(json|ya?ml)$/, '');
  return base
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
}

/**
 * A JSON Schema file as components: the schema itself under `name`, each of its `$defs` beside it as
 * `name.def`, and its own `#/$defs/…` references pointed there (swagger-ui and ajv both follow those).
 */
function hoistSchema(file: string, name: string, schemas: JsonObject): void {
  const schema = structuredClone(readData(file));
  if (!isObject(schema)) throw new Error(`${file}: a schema file holds one JSON object`);
  const defs = isObject(schema.$defs) ? schema.$defs : {};
  delete schema.$defs;
  delete schema.$schema;
  delete schema.$id;
  const target = (ref: string): string => {
    const def = /^#\/\$defs\/([^/]+)$/.exec(ref)?.[1];
    if (def === undefined) throw new Error(`${file}: only references to its own #/$defs/… are supported, found '${ref}'`);
    return `#/components/schemas/${name}.${def}`;
  };
  const retarget = (obj: JsonObject): void => {
    if (typeof obj.$ref === 'string') obj.$ref = target(obj.$ref);
  };
  walk(schema, retarget);
  schemas[name] = schema;
  for (const [def, body] of Object.entries(defs)) {
    walk(body, retarget);
    schemas[`${name}.${def}`] = body;
  }
}

// A rendered record fills what the sender's data can (no field is required); its codes and patterns are the
// format's own, as in what the systems send.
const NOT_FOR_RENDERED = new Set(['required', '$defs', '$schema', '$id']);

/** The same schema for reading: `$defs` inlined, the same fields, types, codes and patterns; nothing required. */
function renderedSchema(file: string): JsonObject {
  const schema = readData(file);
  if (!isObject(schema)) throw new Error(`${file}: a schema file holds one JSON object`);
  const defs = isObject(schema.$defs) ? schema.$defs : {};
  const inline = (node: Json, depth: number): Json => {
    if (depth > 32) throw new Error(`${file}: $defs nest too deep (a cycle?)`);
    if (Array.isArray(node)) return node.map((n) => inline(n, depth));
    if (!isObject(node)) return node;
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') {
        const def = /^#\/\$defs\/([^/]+)$/.exec(v)?.[1];
        const body = def === undefined ? undefined : defs[def];
        if (body === undefined) throw new Error(`${file}: cannot resolve '${v}'`);
        Object.assign(out, inline(body, depth + 1));
      } else if (!NOT_FOR_RENDERED.has(k)) {
        out[k] = k === 'properties' && isObject(v) ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, inline(s, depth)])) : inline(v, depth);
      }
    }
    return out;
  };
  const result = inline(schema, 0);
  return isObject(result) ? result : {};
}

function searchParameterTable(inputs: OpenApiInputs): string {
  const rows = inputs.resourceTypes.map((type) => {
    const params = inputs.searchParameters(type).map((p) => `\`${p.code}\` (${p.type})`);
    return `| ${type} | ${params.length ? params.join(', ') : '(only the common ones)'} |`;
  });
  return ['', '| Type | Search parameters |', '| --- | --- |', ...rows].join('\n');
}

/**
 * The description the gateway serves, assembled from `openapi/openapi.yaml` with one source for each
 * part: the native schemas from mappings/, the examples from openapi/examples/, the resource types and
 * search parameters from the FHIR registry. Throws with the file's name when a part is missing.
 */
function assembleOpenApi(inputs: OpenApiInputs): JsonObject {
  const rootFile = join(inputs.dir, 'openapi.yaml');
  const doc = readData(rootFile);
  if (!isObject(doc) || !isObject(doc.components) || !isObject(doc.components.schemas) || !isObject(doc.paths)) {
    throw new Error(`${rootFile}: not an OpenAPI document with paths and components.schemas`);
  }
  const components = doc.components;
  const schemas = doc.components.schemas as JsonObject;
  const base = dirname(rootFile);
  const hoisted = new Map<string, string>();
  const placeholders = Object.entries(isObject(doc['x-example-placeholders']) ? doc['x-example-placeholders'] : {});
  delete doc['x-example-placeholders'];
  const fillPlaceholders = (node: Json): Json => {
    if (typeof node === 'string') return placeholders.reduce((text, [from, to]) => text.split(from).join(String(to)), node);
    if (Array.isArray(node)) return node.map(fillPlaceholders);
    if (isObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fillPlaceholders(v)]));
    return node;
  };

  walk(doc, (obj) => {
    if (typeof obj.$ref === 'string' && !obj.$ref.startsWith('#')) {
      const file = resolve(base, obj.$ref);
      let name = hoisted.get(file);
      if (!name) {
        name = componentName(relative(base, file));
        hoistSchema(file, name, schemas);
        hoisted.set(file, name);
      }
      obj.$ref = `#/components/schemas/${name}`;
    }
    if (typeof obj.externalValue === 'string' && !/^[a-z]+:/i.test(obj.externalValue)) {
      obj.value = fillPlaceholders(readData(resolve(base, obj.externalValue)));
      delete obj.externalValue;
    }
    if (typeof obj['x-rendered-from'] === 'string') {
      const { description } = obj;
      const rendered = renderedSchema(resolve(base, obj['x-rendered-from']));
      for (const key of Object.keys(obj)) Reflect.deleteProperty(obj, key);
      Object.assign(obj, rendered, description === undefined ? {} : { description });
    }
  });

  // Every answer carries X-Request-Id: said once here rather than on each response in the source.
  const responses: Json[] = [...Object.values(isObject(components.responses) ? components.responses : {})];
  for (const item of Object.values(doc.paths)) {
    if (!isObject(item)) continue;
    for (const op of Object.values(item)) if (isObject(op) && isObject(op.responses)) responses.push(...Object.values(op.responses));
  }
  for (const response of responses) {
    if (!isObject(response) || response.$ref !== undefined) continue;
    const headers = isObject(response.headers) ? response.headers : {};
    headers['X-Request-Id'] ??= { $ref: '#/components/headers/X-Request-Id' };
    response.headers = headers;
  }

  schemas.ResourceType = { ...(isObject(schemas.ResourceType) ? schemas.ResourceType : {}), type: 'string', enum: [...inputs.resourceTypes] };
  const search = isObject(doc.paths['/fhir/{type}']) ? doc.paths['/fhir/{type}'].get : undefined;
  if (isObject(search)) search.description = `${typeof search.description === 'string' ? search.description : ''}${searchParameterTable(inputs)}`;

  doc.servers = [{ url: inputs.publicUrl }];
  if (isObject(doc.info)) doc.info.version = inputs.version;
  const oauth = isObject(components.securitySchemes) ? components.securitySchemes.smartBackendServices : undefined;
  if (isObject(oauth) && isObject(oauth.flows) && isObject(oauth.flows.clientCredentials)) {
    oauth.flows.clientCredentials.tokenUrl = `${inputs.publicUrl}/oauth2/token`;
  }
  return doc;
}

/** The gateway's description: openapi/ and mappings/ under `rootDir`, the FHIR types and search parameters it serves. */
export function gatewayOpenApi(args: { rootDir: string; publicUrl: string; version: string; registry: SearchParameterRegistry }): JsonObject {
  return assembleOpenApi({
    dir: join(args.rootDir, 'openapi'),
    publicUrl: args.publicUrl,
    version: args.version,
    resourceTypes: WRITABLE_TYPES,
    searchParameters: (type) => args.registry.forType(type).map((p) => ({ code: p.code, type: p.type, description: p.definition.description })),
  });
}
