// The units on the board's map (issue 20), over the board's own server-sent events: at connection a `units` event
// with every unit the viewer may see (the ZCC: all; anyone else: its own), then a `unit` event whenever one of them
// reports. These events carry no `id`: they are current state, not the handover feed's numbered changes, and a
// reconnect simply gets a fresh `units` event. Each unit is audited as read before it is first shown on a
// connection (NEN 7513 asks who saw whose data, not every repaint of it).
import type { Resource } from '@medplum/fhirtypes';
import type { RequestContext } from '../context.ts';
import type { UnitFeed } from './feed.ts';
import type { UnitRow } from './store.ts';
import type { UnitView } from './view.ts';

export interface UnitSource {
  attach(ctx: RequestContext, send: (event: string, data: unknown) => void, audit: (resources: Resource[]) => Promise<void>, onFailure: (err: unknown) => void): { close(): void };
}

export function unitBoardSource(view: UnitView, feed: UnitFeed, options: { tileUrl?: string } = {}): UnitSource {
  return {
    attach(ctx, send, audit, onFailure) {
      let closed = false;
      let chain: Promise<void> = Promise.resolve();
      const pending = new Set<string>();
      const audited = new Set<string>();

      const auditFirstSight = async (rows: UnitRow[]): Promise<void> => {
        const unseen = rows.filter((r) => !audited.has(r.id));
        if (unseen.length === 0) return;
        await audit(await Promise.all(unseen.map((r) => view.location(r))));
        for (const r of unseen) audited.add(r.id);
      };
      const run = (work: () => Promise<void>): void => {
        chain = chain.then(work).catch((err: unknown) => {
          closed = true;
          onFailure(err);
        });
      };

      const unsubscribe = feed.subscribe((ids) => {
        for (const id of ids) pending.add(id);
        run(async () => {
          if (closed || pending.size === 0) return;
          const ids = [...pending];
          pending.clear();
          const rows = await view.visible(ctx, ids);
          await auditFirstSight(rows);
          for (const row of rows) if (!closed) send('unit', await view.forBoard(row));
        });
      });

      run(async () => {
        const rows = await view.visible(ctx);
        await auditFirstSight(rows);
        const units = await Promise.all(rows.map((r) => view.forBoard(r)));
        if (!closed) send('units', { units, staleSeconds: view.stale, tileUrl: options.tileUrl });
      });

      return {
        close: () => {
          closed = true;
          unsubscribe();
        },
      };
    },
  };
}
