import { Agent, request } from 'node:http';

/**
 * POSTs of a load generator over node:http with keep-alive connections, one per client. `fetch` (undici's WHATWG
 * Request, Headers and body streams for every call) cost the benchmark 1.38–1.89 ms of CPU per native handover, the
 * body's JSON.stringify included, against 0.49–0.83 ms this way (three alternating rounds, one process, beside a CI run): on the
 * 2-core machine that also runs the gateway and PostgreSQL, CPU taken from both. Only what a load generator needs:
 * the status, once the body has been read to its end and dropped.
 */
export class LeanPoster {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string, connections: number) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:') throw new Error(`LeanPoster speaks plain HTTP only, not ${url.protocol}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  /** The answer's status once its body has been read. */
  post(path: string, headers: Record<string, string>, body: string): Promise<number> {
    const payload = Buffer.from(body);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, path, method: 'POST', agent: this.agent, headers: { ...headers, 'Content-Length': payload.length } },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode ?? 0));
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
