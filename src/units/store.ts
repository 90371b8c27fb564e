// Plain SQL for units (migration 011): one statement per fix, reads of the current state, pruning. No access
// rules here: callers pass the organisations whose units may be read (src/access/policy.ts, unitReaders).
import type { Queryable } from '../store/database.ts';
import type { UnitFix } from './format.ts';
import type { UnitKind } from './tables.ts';

export const UNIT_CHANNEL = 'unit_changed';

export interface UnitRow {
  id: string;
  ura: string;
  callSign: string;
  kind: UnitKind;
  status: string;
  ownStatus: string;
  handoverId?: string;
  lat: number;
  lon: number;
  accuracyM?: number;
  fixTime: string;
  received: string;
  version: string;
}

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
   * One statement: the unit's current state is replaced only by a newer fix (so a late or re-sent one changes
   * nothing), the history gets the fix when it was applied, and the board is woken (NOTIFY, sent at commit).
   */
  async recordFix(q: Queryable, fix: UnitFix): Promise<FixOutcome> {
    const r = await q.query<{ applied: number; woken: number; current: Date | string | null }>(
      `WITH cur AS (SELECT fix_time FROM units WHERE id = $1),
       up AS (
         INSERT INTO units (id, organization_ura, call_sign, kind, status, own_status, handover_id, lat, lon, accuracy_m, fix_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, status = EXCLUDED.status, own_status = EXCLUDED.own_status,
           handover_id = EXCLUDED.handover_id, lat = EXCLUDED.lat, lon = EXCLUDED.lon, accuracy_m = EXCLUDED.accuracy_m,
           fix_time = EXCLUDED.fix_time, received = now(), version = units.version + 1
         WHERE units.fix_time < EXCLUDED.fix_time
         RETURNING id),
       hist AS (
         INSERT INTO unit_positions (unit_id, fix_time, lat, lon, accuracy_m, status)
         SELECT id, $11, $8, $9, $10, $5 FROM up
         ON CONFLICT DO NOTHING RETURNING 1),
       woken AS (SELECT pg_notify($12, id) FROM up)
       SELECT (SELECT count(*) FROM up)::int AS applied, (SELECT count(*) FROM woken)::int AS woken, (SELECT fix_time FROM cur) AS current`,
      [fix.unitId, fix.ura, fix.callSign, fix.kind, fix.status, fix.ownStatus, fix.handoverId ?? null, fix.lat, fix.lon, fix.accuracyM ?? null, fix.fixTime.toISOString(), UNIT_CHANNEL],
    );
    const row = r.rows[0];
    if (row && Number(row.applied) > 0) return 'stored';
    return row?.current && new Date(row.current).getTime() === fix.fixTime.getTime() ? 'duplicate' : 'older';
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
