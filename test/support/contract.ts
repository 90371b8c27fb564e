// Contract tests, once for every suite: each response the gateway gives a test is checked against the
// OpenAPI description it serves (/openapi.json). A status the description does not declare for that
// path and method, a declared header missing or malformed, a body (or content type) that does not
// match, or a path and method the description lacks, is recorded as a violation; the setup file
// (contract-setup.ts) fails the test in which it happened.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

type Json = any;

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

  /** What is wrong with one exchange, against the description (empty when it matches). */
  check(method: string, url: string, status: number, headers: Record<string, string | string[] | number | undefined>, body: Buffer): string[] {
    const problems: string[] = [];
    let path = new URL(url, 'http://contract.test').pathname;
    try {
      path = path.split('/').map(decodeURIComponent).join('/');
    } catch {
      // Undecodable: matched as sent.
    }
    // Express answers /fhir/ as /fhir: a trailing slash is not another endpoint.
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const contentType = String(headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const template = this.matchPath(path);
    const m = method.toLowerCase();
    const opPointer = template === undefined ? undefined : `/paths/${escapePointer(template)}/${m}`;
    if (!template || !HTTP_METHODS.includes(m) || !this.doc.paths[template][m]) {
      // The gateway's refusal of a path or method that does not exist is fine; anything else is an endpoint the description lacks.
      const refusal = (status === 404 || status === 405) && contentType === 'application/fhir+json' && safeJson(body)?.resourceType === 'OperationOutcome';
      if (!refusal) problems.push(`${method} ${template ?? path} is not in the description (answered ${status})`);
      return problems;
    }
    const responses = this.doc.paths[template][m].responses ?? {};
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
    const content = response.content ?? {};
    if (Object.keys(content).length === 0) {
      problems.push(`a ${status} of ${method} ${template} has no body in the description, but one was sent (${contentType})`);
      return problems;
    }
    const media = content[contentType] !== undefined ? contentType : content['*/*'] !== undefined ? '*/*' : undefined;
    if (media === undefined) {
      problems.push(`Content-Type ${contentType || '(none)'} is not declared for ${status} (declared: ${Object.keys(content).join(', ')})`);
      return problems;
    }
    if (!content[media].schema) return problems;
    let value: Json;
    if (/json/.test(media)) {
      value = safeJson(body);
      if (value === undefined) {
        problems.push(`the ${media} body is not JSON`);
        return problems;
      }
    } else {
      value = body.toString('utf8');
    }
    const v = this.validator(`${responsePointer}/content/${escapePointer(media)}/schema`);
    if (!v(value)) problems.push(`the body does not match the schema: ${this.errors(v)}`);
    return problems;
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
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      res.on('finish', () => {
        const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.concat(chunks);
        let problems: string[];
        try {
          problems = this.check(method, url, res.statusCode, res.getHeaders() as Record<string, string>, body);
        } catch (err) {
          problems = [`the check itself failed: ${(err as Error).message}`];
        }
        for (const problem of problems) violations.push({ request: `${method} ${url.split('?')[0]} → ${res.statusCode}`, problem });
      });
      app(req, res);
    };
  }
}

function safeJson(body: Buffer): Json {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
