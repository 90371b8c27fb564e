// Wakes whoever shows units (the board's streams) when a fix is stored: the ingest statement NOTIFYs the unit's id
// at commit, on every instance sharing the database. Ids arriving together are handed over as one batch.
import type { Logger } from 'pino';
import { safeError } from '../observability/logging.ts';
import type { Database } from '../store/database.ts';
import { UNIT_CHANNEL } from './store.ts';

type Listener = (unitIds: string[]) => void;

export class UnitFeed {
  private readonly db: Database;
  private readonly logger: Logger;
  private readonly listeners = new Set<Listener>();
  private pending = new Set<string>();
  private scheduled = false;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(db: Database, logger: Logger) {
    this.db = db;
    this.logger = logger;
  }

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(UNIT_CHANNEL, (id) => this.arrived(id));
  }

  async close(): Promise<void> {
    await this.unlisten?.();
    this.unlisten = undefined;
    this.listeners.clear();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private arrived(id: string): void {
    if (this.listeners.size === 0) return;
    this.pending.add(id);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const ids = [...this.pending];
      this.pending = new Set();
      for (const l of this.listeners) {
        try {
          l(ids);
        } catch (err) {
          this.logger.warn({ err: safeError(err) }, 'unit feed listener failed');
        }
      }
    });
  }
}
