// Native records through HTTP: the shared examples made unique per test, sending, and looking at what was stored.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, OperationOutcome, Resource, Task } from '@medplum/fhirtypes';
import request from 'supertest';
import { startTestGateway, type DemoClient, type TestGateway } from './gateway.ts';

const EXAMPLES_DIR = join(import.meta.dirname, '../fixtures/native-examples');
const FHIR_JSON = 'application/fhir+json';
export const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';
export const URA_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/ura';
export const RIDE_SYSTEM = 'urn:oid:2.16.840.1.113883.2.4.3.32.5';

export type Format = 'nts' | 'ambulance' | 'vvt';
export type NativeRecord = Record<string, any>;

export function exampleNames(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

/** A fresh copy of a shared example (`_waarom` stripped from invalid ones). */
export function example(name: string): NativeRecord {
  const record = JSON.parse(readFileSync(join(EXAMPLES_DIR, name.endsWith('.json') ? name : `${name}.json`), 'utf8')) as NativeRecord;
  delete record._waarom;
  return record;
}

/** The reason an invalid example gives for being invalid. */
export function whyInvalid(name: string): string {
  return (JSON.parse(readFileSync(join(EXAMPLES_DIR, name), 'utf8')) as { _waarom: string })._waarom;
}

export function formatOf(name: string): Format {
  const m = /^(?:invalid-)?(nts|ambulance|vvt)-/.exec(name);
  if (!m) throw new Error(`No format in example name ${name}`);
  return m[1] as Format;
}

let counter = 0;
const run = (Date.now() % 1_000_000).toString().padStart(6, '0');

/** A string unique in this test run, [A-Za-z0-9-] only (fits contactId and aanvraag_id). */
export function uniqueId(prefix: string): string {
  return `${prefix}-${run}-${process.pid}-${++counter}`;
}

/** A BSN passing the 11-proof that no other test uses. */
export function uniqueBsn(): string {
  for (;;) {
    const n = (Date.now() * 1000 + process.pid * 7919 + ++counter * 104729) % 100_000_000;
    const digits = n.toString().padStart(8, '0').split('').map(Number);
    const sum = digits.reduce((s, d, i) => s + d * (9 - i), 0);
    const last = sum % 11;
    if (last < 10) return `${digits.join('')}${last}`;
  }
}

/** A ride number (and matching incident number) no other test uses. */
export function uniqueRide(): { ritnummer: string; incidentnummer: string } {
  const incident = `${run}${(++counter % 100).toString().padStart(2, '0')}`;
  return { ritnummer: `RAVNO-2026-${incident}-1`, incidentnummer: incident };
}

/** Puts one patient into a record of any format, so that the request and its answers name the same, fresh patient. */
export function setBsn(format: Format, record: NativeRecord, bsn: string): NativeRecord {
  if (format === 'vvt') record.client_bsn = bsn;
  else if (record.patient) record.patient.bsn = bsn;
  return record;
}

/** Replaces `${overdrachtId}` everywhere in an answer. */
export function fillHandover(record: NativeRecord, handoverId: string): NativeRecord {
  return JSON.parse(JSON.stringify(record).replaceAll('${overdrachtId}', handoverId)) as NativeRecord;
}

/** The id in a Location such as http://gateway.test/fhir/Task/<id>. */
export function idFrom(location: string | undefined, type: string): string {
  const m = new RegExp(`/fhir/${type}/([A-Za-z0-9\\-.]+)$`).exec(location ?? '');
  if (!m) throw new Error(`Expected a Location of a ${type}, got ${String(location)}`);
  return m[1]!;
}

export interface Native {
  send(format: Format, record: unknown, client?: DemoClient, contentType?: string): Promise<request.Response>;
  /** Sends and insists on 200/201: the Location's Task id (or other type). */
  sendOk(format: Format, record: unknown, client?: DemoClient): Promise<request.Response>;
  get(path: string, client?: DemoClient): Promise<request.Response>;
  post(path: string, body: unknown, client?: DemoClient): Promise<request.Response>;
  read<T extends Resource>(reference: string, client?: DemoClient): Promise<T>;
  search<T extends Resource>(type: string, query: Record<string, string>, client?: DemoClient): Promise<T[]>;
  count(type: string, query?: Record<string, string>, client?: DemoClient): Promise<number>;
  history(reference: string): Promise<Resource[]>;
  /** Creates a handover with a request example (fresh identity and patient) and returns its Task id. */
  createHandover(name: string, client: DemoClient, opts?: { bsn?: string; edit?: (r: NativeRecord) => void }): Promise<{ taskId: string; record: NativeRecord; bsn: string }>;
}

export function nativeClient(tg: TestGateway): Native {
  const send = async (format: Format, record: unknown, client: DemoClient = 'hap-vechtdal', contentType = 'application/json'): Promise<request.Response> =>
    request(tg.app)
      .post(`/native/${format}`)
      .set('Authorization', await tg.auth(client))
      .set('Content-Type', contentType)
      // Bytes go out as they are (superagent would JSON-encode a Buffer under a JSON content type).
      .serialize((body: unknown) => body as string)
      .send(typeof record === 'string' || Buffer.isBuffer(record) ? (record as string) : JSON.stringify(record));
  const get = async (path: string, client: DemoClient = 'hap-vechtdal'): Promise<request.Response> =>
    request(tg.app).get(path).set('Authorization', await tg.auth(client)).set('Accept', FHIR_JSON);
  const native: Native = {
    send,
    sendOk: async (format, record, client) => {
      const res = await send(format, record, client);
      if (res.status !== 200 && res.status !== 201) throw new Error(`POST /native/${format} gave ${res.status}: ${res.text}`);
      return res;
    },
    get,
    post: async (path, body, client = 'hap-vechtdal') =>
      request(tg.app).post(path).set('Authorization', await tg.auth(client)).set('Content-Type', FHIR_JSON).set('Accept', FHIR_JSON).send(JSON.stringify(body)),
    read: async <T extends Resource>(reference: string, client?: DemoClient): Promise<T> => {
      const path = reference.replace(/^https?:\/\/[^/]+\/fhir\//, '');
      const res = await get(`/fhir/${path}`, client);
      if (res.status !== 200) throw new Error(`GET /fhir/${path} gave ${res.status}: ${res.text}`);
      return JSON.parse(res.text) as T;
    },
    search: async <T extends Resource>(type: string, query: Record<string, string>, client?: DemoClient): Promise<T[]> => {
      const res = await get(`/fhir/${type}?${new URLSearchParams({ _count: '100', ...query }).toString()}`, client);
      if (res.status !== 200) throw new Error(`Searching ${type} gave ${res.status}: ${res.text}`);
      return ((JSON.parse(res.text) as Bundle).entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource as T);
    },
    count: async (type, query = {}, client) => {
      const res = await get(`/fhir/${type}?${new URLSearchParams({ ...query, _summary: 'count' }).toString()}`, client);
      if (res.status !== 200) throw new Error(`Counting ${type} gave ${res.status}: ${res.text}`);
      return (JSON.parse(res.text) as Bundle).total!;
    },
    history: async (reference) => {
      const res = await get(`/fhir/${reference}/_history?_count=100`);
      if (res.status !== 200) throw new Error(`History of ${reference} gave ${res.status}: ${res.text}`);
      return ((JSON.parse(res.text) as Bundle).entry ?? []).map((e) => e.resource!).filter(Boolean);
    },
    createHandover: async (name, client, opts = {}) => {
      const format = formatOf(name);
      const bsn = opts.bsn ?? uniqueBsn();
      const record = setBsn(format, example(name), bsn);
      if (format === 'nts') record.contactId = uniqueId('HAPV');
      if (format === 'vvt') record.aanvraag_id = uniqueId('ZCC');
      if (format === 'ambulance') Object.assign(record, uniqueRide());
      opts.edit?.(record);
      const res = await native.sendOk(format, record, client);
      return { taskId: idFrom(res.headers.location, 'Task'), record, bsn };
    },
  };
  return native;
}

/** Task statuses in the order of the Task's versions (oldest first). */
export function statusTrail(versions: Resource[]): string[] {
  return [...versions].sort((a, b) => Number(a.meta!.versionId) - Number(b.meta!.versionId)).map((v) => (v as Task).status!);
}

/** Asserts an OperationOutcome with `status` and returns everything it says, for matching field names. */
export function refusal(res: request.Response, statuses: number[]): { outcome: OperationOutcome; text: string } {
  if (!statuses.includes(res.status)) throw new Error(`Expected ${statuses.join(' or ')}, got ${res.status}: ${res.text}`);
  const outcome = JSON.parse(res.text) as OperationOutcome;
  if (outcome.resourceType !== 'OperationOutcome' || !outcome.issue?.length) throw new Error(`Expected an OperationOutcome, got ${res.text}`);
  const text = outcome.issue.map((i) => [...(i.expression ?? []), i.diagnostics ?? ''].join(' ')).join(' | ');
  return { outcome, text };
}

/**
 * A gateway of the file's own, with a native client for it: started before the file's tests, stopped after
 * them. `use` receives both once the gateway is up (`withNativeGateway((g) => ({ tg, native } = g))`).
 */
export function withNativeGateway(use: (started: { tg: TestGateway; native: Native }) => void, env: Record<string, string> = {}): void {
  let tg: TestGateway | undefined;
  beforeAll(async () => {
    tg = await startTestGateway(env);
    use({ tg, native: nativeClient(tg) });
  });
  afterAll(async () => {
    await tg?.stop();
  });
}
