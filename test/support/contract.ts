// Contract tests, once for every suite: each response the gateway gives a test is checked against the
// OpenAPI description it serves (/openapi.json). A status the description does not declare for that
// path and method, a declared header missing or malformed, a body (or content type) that does not
// match, or a path and method the description lacks, is recorded as a violation; the setup file
// (contract-setup.ts) fails the test in which it happened. So is a request body the gateway accepted (2xx)
// that its operation does not describe, and a notification the gateway posts to a subscriber that does not
// match the `handover` webhook (receiver.ts checks each one with recordNotification).
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

type Json = any;
type Headers = Record<string, string | string[] | number | undefined>;

export interface Violation {
  request: string;
  problem: string;
}

const violations: Violation[] = [];

/** The violations recorded since the last call (the setup file calls it after each test). */
export function takeViolations(): Violation[] {
  return violations.splice(0, violations.length);
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface PathTemplate {
  template: string;
  regex: RegExp;
  literals: number;
}

const CONTRACT_ID = 'http://contract.test/openapi.json';
const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

export class Contract {
  readonly doc: Json;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly templates: PathTemplate[];

  constructor(doc: Json) {
    this.doc = doc;
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    (addFormats as unknown as (ajv: Ajv2020) => void)(this.ajv);
    this.ajv.addSchema(doc, CONTRACT_ID);
    this.templates = Object.keys(doc.paths).map((template) => {
      const segments = template.split('/');
      const pattern = segments.map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
      return { template, regex: new RegExp(`^${pattern}$`), literals: segments.filter((s) => s && !s.startsWith('{')).length };
    });
  }

  /** The node at a JSON pointer, following `$ref`s to the pointer of what they name. */
  private follow(pointer: string): { node: Json; pointer: string } {
    let node: Json = this.doc;
    for (const part of pointer.split('/').slice(1)) node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (node && typeof node.$ref === 'string' && node.$ref.startsWith('#')) return this.follow(node.$ref.slice(1));
    return { node, pointer };
  }

  private validator(pointer: string): ValidateFunction {
    let v = this.validators.get(pointer);
    if (!v) {
      v = this.ajv.compile({ $ref: `${CONTRACT_ID}#${pointer}` });
      this.validators.set(pointer, v);
    }
    return v;
  }

  private errors(v: ValidateFunction): string {
    return (v.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : ''}`)
      .join('; ');
  }

  /** The description's path template for a request path: the one with the most literal segments. */
  matchPath(path: string): string | undefined {
    const found = this.templates.filter((t) => t.regex.test(path)).sort((a, b) => b.literals - a.literals);
    return found[0]?.template;
  }

  /** The description's path template and operation for a request, when it has them. */
  private operation(method: string, url: string): { path: string; template?: string; pointer?: string } {
    let path = new URL(url, 'http://contract.test').pathname;
    try {
      path = path.split('/').map(decodeURIComponent).join('/');
    } catch {
      // Undecodable: matched as sent.
    }
    // Express answers /fhir/ as /fhir: a trailing slash is not another endpoint.
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const template = this.matchPath(path);
    const m = method.toLowerCase();
    if (!template || !HTTP_METHODS.includes(m) || !this.doc.paths[template][m]) return { path, template };
    return { path, template, pointer: `/paths/${escapePointer(template)}/${m}` };
  }

  /** What is wrong with one exchange, against the description (empty when it matches). */
  check(method: string, url: string, status: number, headers: Headers, body: Buffer): string[] {
    const problems: string[] = [];
    const contentType = mediaType(headers);
    const { path, template, pointer: opPointer } = this.operation(method, url);
    if (!template || !opPointer) {
      // The gateway's refusal of a path or method that does not exist is fine; anything else is an endpoint the description lacks.
      const refusal = (status === 404 || status === 405) && contentType === 'application/fhir+json' && safeJson(body)?.resourceType === 'OperationOutcome';
      if (!refusal) problems.push(`${method} ${template ?? path} is not in the description (answered ${status})`);
      return problems;
    }
    const responses = this.follow(opPointer).node.responses ?? {};
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in responses);
    if (key === undefined) {
      problems.push(`status ${status} is not declared for ${method} ${template} (declared: ${Object.keys(responses).join(', ')})`);
      return problems;
    }
    const { node: response, pointer: responsePointer } = this.follow(`${opPointer}/responses/${key}`);

    for (const [name, declared] of Object.entries<Json>(response.headers ?? {})) {
      const { node: header, pointer: headerPointer } = this.follow(`${responsePointer}/headers/${escapePointer(name)}`);
      const value = headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required) problems.push(`header ${name} is required for ${status} (${declared.description ?? header.description ?? ''})`);
        continue;
      }
      if (header.schema) {
        const v = this.validator(`${headerPointer}/schema`);
        if (!v(String(value))) problems.push(`header ${name}: ${this.errors(v)}`);
      }
    }

    if (body.length === 0) return problems;
    if (Object.keys(response.content ?? {}).length === 0) {
      problems.push(`a ${status} of ${method} ${template} has no body in the description, but one was sent (${contentType})`);
      return problems;
    }
    return [...problems, ...this.checkBody(responsePointer, `the ${status}`, contentType, body)];
  }

  /**
   * What is wrong with a request body the gateway accepted (the caller checks only 2xx: a test may send
   * bad input on purpose to see it refused). A body its operation does not declare, in a content type it
   * does not declare, or that does not match the declared schema; or none where one is required.
   */
  checkRequest(method: string, url: string, headers: Headers, body: Buffer): string[] {
    const { template, pointer: opPointer } = this.operation(method, url);
    if (!template || !opPointer) return []; // check() reports the endpoint itself
    const { node: requestBody, pointer } = this.follow(`${opPointer}/requestBody`);
    if (requestBody === undefined) return body.length === 0 ? [] : [`${method} ${template} declares no request body, but one was accepted (${mediaType(headers) || 'no Content-Type'})`];
    if (body.length === 0) return requestBody.required ? [`${method} ${template} requires a request body, but none was sent`] : [];
    return this.checkBody(pointer, 'the request', mediaType(headers), body);
  }

  /**
   * What is wrong with a notification the gateway posted to a subscriber's endpoint, against the
   * `handover` webhook: its header parameters and its body (for the content type it was sent in).
   */
  checkNotification(headers: Headers, body: Buffer): string[] {
    const opPointer = '/webhooks/handover/post';
    const operation = this.follow(opPointer).node;
    if (!operation) return ['the description has no webhooks.handover.post'];
    const problems: string[] = [];
    (operation.parameters ?? []).forEach((_: Json, i: number) => {
      const { node: parameter, pointer } = this.follow(`${opPointer}/parameters/${i}`);
      if (parameter.in !== 'header') return;
      const value = headers[parameter.name.toLowerCase()];
      if (value === undefined) {
        if (parameter.required) problems.push(`header ${parameter.name} is required`);
      } else if (parameter.schema) {
        const v = this.validator(`${pointer}/schema`);
        if (!v(String(value))) problems.push(`header ${parameter.name}: ${this.errors(v)}`);
      }
    });
    const { node: requestBody, pointer } = this.follow(`${opPointer}/requestBody`);
    if (body.length === 0) {
      if (requestBody?.required) problems.push('the webhook requires a body, but none was sent');
      return problems;
    }
    if (requestBody === undefined) return [...problems, `the webhook declares no body, but one was sent (${mediaType(headers) || 'no Content-Type'})`];
    return [...problems, ...this.checkBody(pointer, 'the notification', mediaType(headers), body)];
  }

  /** A body against the `content` of the response or request body at `pointer`, for its media type. */
  private checkBody(pointer: string, what: string, contentType: string, body: Buffer): string[] {
    const content = this.follow(pointer).node.content ?? {};
    const media = [contentType, `${contentType.split('/')[0]}/*`, '*/*'].find((m) => content[m] !== undefined);
    if (media === undefined) return [`Content-Type ${contentType || '(none)'} is not declared for ${what} (declared: ${Object.keys(content).join(', ')})`];
    if (!content[media].schema) return [];
    let value: Json;
    if (/json/.test(media)) {
      value = safeJson(body);
      if (value === undefined) return [`the ${media} body of ${what} is not JSON`];
    } else if (media === 'application/x-www-form-urlencoded') {
      value = formFields(body);
    } else {
      value = body.toString('utf8');
    }
    const v = this.validator(`${pointer}/content/${escapePointer(media)}/schema`);
    return v(value) ? [] : [`the body of ${what} does not match the schema: ${this.errors(v)}`];
  }

  /**
   * The gateway's request handler, recording each exchange and checking it when the response is
   * finished. Tests see the gateway exactly as before.
   */
  recording(app: RequestListener): RequestListener {
    return (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      const keep = (chunk: unknown, encoding: unknown): void => {
        if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
        chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array));
      };
      const write = res.write.bind(res) as (...args: any[]) => boolean;
      const end = res.end.bind(res) as (...args: any[]) => ServerResponse;
      (res as any).write = (chunk: unknown, ...rest: any[]) => {
        keep(chunk, rest[0]);
        return write(chunk, ...rest);
      };
      (res as any).end = (chunk?: unknown, ...rest: any[]) => {
        keep(chunk, rest[0]);
        return end(chunk, ...rest);
      };
      // The request body, copied as the gateway reads it: every way of reading a stream (a 'data' listener,
      // read(), piping, async iteration) hands each chunk out through emit('data'). Watching emit leaves
      // the stream as it was — no listener that would start it flowing before express is ready, nothing
      // read ahead and put back — and the copy is exactly the bytes the gateway parsed.
      const sent: Buffer[] = [];
      const emit = req.emit.bind(req) as (...args: any[]) => boolean;
      (req as any).emit = (event: string | symbol, ...args: any[]) => {
        if (event === 'data') sent.push(typeof args[0] === 'string' ? Buffer.from(args[0]) : Buffer.from(args[0] as Uint8Array));
        return emit(event, ...args);
      };
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      res.on('finish', () => {
        const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.concat(chunks);
        let problems: string[];
        try {
          problems = this.check(method, url, res.statusCode, res.getHeaders() as Record<string, string>, body);
          // Only what the gateway accepted, and only a body it read to the end (a partial copy proves nothing).
          const accepted = res.statusCode >= 200 && res.statusCode < 300;
          const noBody = req.headers['transfer-encoding'] === undefined && (req.headers['content-length'] ?? '0') === '0';
          if (accepted && (noBody || req.readableEnded)) problems.push(...this.checkRequest(method, url, req.headers, Buffer.concat(sent)));
        } catch (err) {
          problems = [`the check itself failed: ${(err as Error).message}`];
        }
        violationsOf(`${method} ${url.split('?')[0]} → ${res.statusCode}`, problems);
      });
      app(req, res);
    };
  }
}

/** The media type of a Content-Type header, without its parameters. */
function mediaType(headers: Headers): string {
  return String(headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/** A form body as the object its schema describes: one string per field, an array for a repeated one. */
function formFields(body: Buffer): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(body.toString('utf8'))) {
    const seen = fields[name];
    fields[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return fields;
}

const violationsOf = (request: string, problems: string[]): void => {
  for (const problem of problems) violations.push({ request, problem });
};

/** Checks a notification the test's receiver got (receiver.ts) and records what does not match the webhook. */
export function recordNotification(contract: Contract, headers: Headers, body: Buffer): void {
  let problems: string[];
  try {
    problems = contract.checkNotification(headers, body);
  } catch (err) {
    problems = [`the check itself failed: ${(err as Error).message}`];
  }
  violationsOf(`notification ${String(headers['x-notification-type'])} of Subscription/${String(headers['x-subscription-id'])}`, problems);
}

function safeJson(body: Buffer): Json {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
