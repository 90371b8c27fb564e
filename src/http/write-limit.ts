import type { NextFunction, Request, Response } from 'express';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * At most `limit` write requests at work at once; the others wait their turn, in order of arrival. On two cores a
 * few writes keep the CPU and the database busy: more of them only share it more thinly, and then a committed
 * handover's notification waits behind the new ones coming in (measured at 100 handovers/s offered: seconds from
 * commit to receiver without a limit, tens of milliseconds with 8). A request that ends while waiting (the client
 * gave up) leaves the queue without having taken a turn.
 */
export class WriteLimit {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly exempt: (req: Request) => boolean;

  /** `exempt`: writes that never wait (the units' position fixes: one statement each, and the map must not lag the handovers' queue). */
  constructor(limit: number, exempt: (req: Request) => boolean = () => false) {
    this.limit = limit;
    this.exempt = exempt;
  }

  /** Writes at work now, and waiting for a turn (for /metrics). */
  get state(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  middleware(): (req: Request, res: Response, next: NextFunction) => void {
    return (req, res, next) => {
      if (!WRITES.has(req.method) || this.exempt(req)) {
        next();
        return;
      }
      let holding = false;
      const start = (): void => {
        holding = true;
        this.active++;
        next();
      };
      res.once('close', () => {
        if (holding) {
          holding = false;
          this.active--;
          this.waiting.shift()?.();
        } else {
          const at = this.waiting.indexOf(start);
          if (at >= 0) this.waiting.splice(at, 1);
        }
      });
      if (this.active < this.limit) start();
      else this.waiting.push(start);
    };
  }
}
