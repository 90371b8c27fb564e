import type { Request, Response } from 'express';
import helmet from 'helmet';

type Step = { name: string; value: string } | { remove: string };

/**
 * helmet's response headers, worked out once and replayed on every response. With the options the gateway uses
 * (helmet's defaults) every header is a constant, yet as middleware helmet ran a chain of thirteen steps per request,
 * each through a `next` of its own. Here helmet runs once, at start, against a stand-in response that notes what it
 * sets and removes; each response then gets exactly those calls, in the same order (a test compares them with
 * helmet's own). Only for options whose headers are constants: a CSP directive given as a function (a nonce) would
 * be evaluated once here and frozen, so the gateway passes none. `headers`: helmet's middleware with those options.
 */
export function securityHeaders(headers: (req: Request, res: Response, next: (err?: unknown) => void) => void = helmet()): (res: Response) => void {
  const steps: Step[] = [];
  const standIn = {
    setHeader(name: string, value: unknown): void {
      if (typeof value !== 'string') throw new Error(`helmet set ${name} to a ${typeof value}: not a constant header`);
      steps.push({ name, value });
    },
    removeHeader(name: string): void {
      steps.push({ remove: name });
    },
  };
  let finished = false;
  headers({} as Request, standIn as unknown as Response, (err?: unknown) => {
    if (err) throw err instanceof Error ? err : new Error(String(err));
    finished = true;
  });
  if (!finished) throw new Error('helmet did not finish at once: its headers are not constants');
  return (res) => {
    for (const step of steps) {
      if ('remove' in step) res.removeHeader(step.remove);
      else res.setHeader(step.name, step.value);
    }
  };
}
