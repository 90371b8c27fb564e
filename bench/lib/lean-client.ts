import { Agent, request } from 'node:http';

/** What a load generator keeps of an answer: its status and where it says the new resource is. */
export interface LeanAnswer {
  status: number;
  location: string | undefined;
}

/**
 * Requests of a load generator over node:http with keep-alive connections, one per client. `fetch` (undici's WHATWG
 * Request, Headers and body streams for every call) cost the benchmark 1.38–1.89 ms of CPU per native handover, the
 * body's JSON.stringify included, against 0.49–0.83 ms this way (three alternating rounds, one process, beside a CI
 * run). For the FHIR operations (bench/fhir-ops.ts against the gateway and Medplum, 2026-12-07): a Task create
 * 0.72–0.79 against 0.28–0.29 ms, a read 0.21–0.22 against 0.10–0.12 ms, a search page 0.43–0.69 against 0.20–0.30 ms.
 * On the 2-core machine that also runs the gateway and PostgreSQL (and, in (f), the server compared with) that is CPU
 * taken from the servers, and more of it from the one that answers more requests a second. Only what a load generator
 * needs: the status and Location, once the body has been read to its end and dropped. Like wrk, and unlike fetch, it
 * asks for no compressed answers.
 */
export class LeanClient {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string, connections: number) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:') throw new Error(`LeanClient speaks plain HTTP only, not ${url.protocol}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  /** The answer's status once its body has been read. */
  async post(path: string, headers: Record<string, string>, body: string): Promise<number> {
    return (await this.send('POST', path, headers, body)).status;
  }

  /** `path` is the whole path (with its query), not relative to the base URL's. */
  send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<LeanAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, path, method, agent: this.agent, headers: payload ? { ...headers, 'Content-Length': payload.length } : headers },
        (res) => {
          const location = res.headers.location;
          res.on('data', () => undefined);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, location }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
