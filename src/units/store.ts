// Plain SQL for units (migration 012): one statement per fix, reads of the current state, pruning. No access
// rules here: callers pass the organisations whose units may be read (src/access/policy.ts, unitReaders).
import type { Queryable } from '../store/database.ts';
import { opaque } from '../store/key-lookup.ts';
import type { UnitFix } from './format.ts';
import type { UnitKind } from './tables.ts';

export const UNIT_CHANNEL = 'unit_changed';

/** A unit's newest fix as stored: the fix's fields, its id, times as ISO text, and the row's version. */
export type UnitRow = Omit<UnitFix, 'unitId' | 'fixTime'> & {
  id: string;
  fixTime: string;
  received: string;
  version: string;
};

/** stored: the unit's newest fix; duplicate: this (unit, time) was stored before; older: a newer fix is already there. */
export type FixOutcome = 'stored' | 'duplicate' | 'older';

interface DbRow {
  id: string;
  organization_ura: string;
  call_sign: string;
  kind: string;
  status: string;
  own_status: string;
  handover_id: string | null;
  lat: number;
  lon: number;
  accuracy_m: number | null;
  fix_time: Date | string;
  received: Date | string;
  version: string | number;
}

const iso = (v: Date | string): string => (v instanceof Date ? v.toISOString() : new Date(v).toISOString());

function toRow(r: DbRow): UnitRow {
  return {
    id: r.id,
    ura: r.organization_ura,
    callSign: r.call_sign,
    kind: r.kind as UnitKind,
    status: r.status,
    ownStatus: r.own_status,
    handoverId: r.handover_id ?? undefined,
    lat: Number(r.lat),
    lon: Number(r.lon),
    accuracyM: r.accuracy_m === null ? undefined : Number(r.accuracy_m),
    fixTime: iso(r.fix_time),
    received: iso(r.received),
    version: String(r.version),
  };
}

const COLUMNS = 'id, organization_ura, call_sign, kind, status, own_status, handover_id, lat, lon, accuracy_m, fix_time, received, version';

export const unitStore = {
  /**
   * One statement for a whole batch: a unit's current state is replaced only by a newer fix (so a late or re-sent one
   * changes nothing), the history gets each fix that was applied, and the board is woken (NOTIFY, sent at commit).
   * Within one batch only a unit's newest fix counts (one statement cannot change a row twice); its others are older.
   * The ids go through `opaque` and `cur` joins them rather than `= ANY($1)`: planned for its values, a batch of one
   * fix looked cheaper than the generic plan's 10 rows, and PostgreSQL planned the statement at every call (1,173
   * plans for 1,262 calls in npm run bench, a unit's own device sending each fix alone).
   */
  async recordFixes(q: Queryable, fixes: readonly UnitFix[]): Promise<FixOutcome[]> {
    const newest = new Map<string, UnitFix>();
    for (const f of fixes) {
      const known = newest.get(f.unitId);
      if (!known || known.fixTime.getTime() < f.fixTime.getTime()) newest.set(f.unitId, f);
    }
    const batch = [...newest.values()];
    const col = <T>(pick: (f: UnitFix) => T): T[] => batch.map(pick);
    const r = await q.query<{ id: string; applied: boolean; current: Date | string | null }>(
      `WITH input AS (
         SELECT * FROM unnest(${opaque('$1::text[]')}, $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::float8[], $10::float8[], $11::timestamptz[])
           AS t(id, organization_ura, call_sign, kind, status, own_status, handover_id, lat, lon, accuracy_m, fix_time)),
       cur AS (SELECT u.id, u.fix_time FROM input i JOIN units u ON u.id = i.id),
       up AS (
         INSERT INTO units (id, organization_ura, call_sign, kind, status, own_status, handover_id, lat, lon, accuracy_m, fix_time)
         SELECT * FROM input
         ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, status = EXCLUDED.status, own_status = EXCLUDED.own_status,
           handover_id = EXCLUDED.handover_id, lat = EXCLUDED.lat, lon = EXCLUDED.lon, accuracy_m = EXCLUDED.accuracy_m,
           fix_time = EXCLUDED.fix_time, received = now(), version = units.version + 1
         WHERE units.fix_time < EXCLUDED.fix_time
         RETURNING id),
       hist AS (
         INSERT INTO unit_positions (unit_id, fix_time, lat, lon, accuracy_m, status)
         SELECT i.id, i.fix_time, i.lat, i.lon, i.accuracy_m, i.status FROM input i JOIN up ON up.id = i.id
         ON CONFLICT DO NOTHING RETURNING 1),
       woken AS (SELECT pg_notify($12, id) FROM up)
       SELECT i.id, EXISTS (SELECT 1 FROM up WHERE up.id = i.id) AS applied, (SELECT c.fix_time FROM cur c WHERE c.id = i.id) AS current,
              (SELECT count(*) FROM hist) + (SELECT count(*) FROM woken) AS done
         FROM input i`,
      [
        col((f) => f.unitId),
        col((f) => f.ura),
        col((f) => f.callSign),
        col((f) => f.kind),
        col((f) => f.status),
        col((f) => f.ownStatus),
        col((f) => f.handoverId ?? null),
        col((f) => f.lat),
        col((f) => f.lon),
        col((f) => f.accuracyM ?? null),
        col((f) => f.fixTime.toISOString()),
        UNIT_CHANNEL,
      ],
    );
    const byId = new Map(r.rows.map((row) => [row.id, row]));
    return fixes.map((f) => {
      const kept = newest.get(f.unitId);
      if (kept !== f) return kept?.fixTime.getTime() === f.fixTime.getTime() ? 'duplicate' : 'older';
      const row = byId.get(f.unitId);
      if (row?.applied) return 'stored';
      return row?.current && new Date(row.current).getTime() === f.fixTime.getTime() ? 'duplicate' : 'older';
    });
  },

  async recordFix(q: Queryable, fix: UnitFix): Promise<FixOutcome> {
    return (await unitStore.recordFixes(q, [fix]))[0] ?? 'older';
  },

  /** The current state of units, of the organisations in `readers` (undefined: all). */
  async list(q: Queryable, readers: readonly string[] | undefined, filter: { ids?: string[] } = {}): Promise<UnitRow[]> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (readers) where.push(`organization_ura = ANY($${params.push(readers)}::text[])`);
    if (filter.ids) where.push(`id = ANY($${params.push(filter.ids)}::text[])`);
    const r = await q.query<DbRow>(`SELECT ${COLUMNS} FROM units${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id`, params);
    return r.rows.map(toRow);
  },

  async get(q: Queryable, id: string): Promise<UnitRow | undefined> {
    const r = await q.query<DbRow>(`SELECT ${COLUMNS} FROM units WHERE id = $1`, [id]);
    return r.rows[0] ? toRow(r.rows[0]) : undefined;
  },

  /** Forgets positions fixed before `horizon`: the history, and units that have not reported since. */
  async prune(q: Queryable, horizon: Date): Promise<{ positions: number; units: number }> {
    const positions = await q.query('DELETE FROM unit_positions WHERE fix_time < $1', [horizon.toISOString()]);
    const units = await q.query('DELETE FROM units WHERE fix_time < $1', [horizon.toISOString()]);
    return { positions: positions.rowCount, units: units.rowCount };
  },

  async historyCount(q: Queryable, id: string): Promise<number> {
    const r = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM unit_positions WHERE unit_id = $1', [id]);
    return Number(r.rows[0]?.n ?? 0);
  },
};
