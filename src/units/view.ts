// Units as the API and the board show them, read through the access rule of src/access/policy.ts (unitReaders):
// the ZCC sees every organisation's units, any other organisation only its own.
import type { Location, Organization, Reference } from '@medplum/fhirtypes';
import type { OrganizationDirectory } from '../access/organizations.ts';
import { unitReaders } from '../access/policy.ts';
import { systemContext, type RequestContext } from '../context.ts';
import type { Repository } from '../fhir/repository.ts';
import type { Database } from '../store/database.ts';
import { isStale, KIND_DISPLAY, organizationReference, toLocation } from './location.ts';
import { unitStore, type UnitRow } from './store.ts';
import type { UnitTables } from './tables.ts';


/** A unit on the board's map. */
export interface BoardUnit {
  id: string;
  callSign: string;
  kind: string;
  kindLabel: string;
  status: string;
  statusLabel: string;
  available: boolean;
  ura: string;
  organization?: string;
  lat: number;
  lon: number;
  accuracyM?: number;
  fixTime: string;
  handoverId?: string;
}

export class UnitView {
  private readonly db: Database;
  private readonly tables: UnitTables;
  private readonly staleSeconds: number;
  private readonly repository: (ctx: RequestContext) => Repository;
  private readonly organizations: OrganizationDirectory;

  constructor(args: { db: Database; tables: UnitTables; staleSeconds: number; repository: (ctx: RequestContext) => Repository; organizations: OrganizationDirectory }) {
    this.db = args.db;
    this.tables = args.tables;
    this.staleSeconds = args.staleSeconds;
    this.repository = args.repository;
    this.organizations = args.organizations;
  }

  get stale(): number {
    return this.staleSeconds;
  }

  /** The units `ctx` may see (optionally only these ids). */
  async visible(ctx: RequestContext, ids?: string[]): Promise<UnitRow[]> {
    return unitStore.list(this.db, unitReaders(ctx), ids ? { ids } : {});
  }

  /** One unit, when `ctx` may see it; otherwise exactly as one that does not exist. */
  async one(ctx: RequestContext, id: string): Promise<UnitRow | undefined> {
    const row = await unitStore.get(this.db, id);
    const readers = unitReaders(ctx);
    return row && (readers === undefined || readers.includes(row.ura)) ? row : undefined;
  }

  /** The directory's Organization of a URA (the gateway's one cached lookup, cleared when an Organization changes). */
  private async organization(ura: string): Promise<{ id: string; name?: string } | undefined> {
    const org = await this.organizations.byUra(this.repository(systemContext('units')), ura);
    return org ? { id: org.id, name: (org.content as { name?: string }).name } : undefined;
  }

  async organizationRef(ura: string): Promise<Reference<Organization>> {
    const org = await this.organization(ura);
    return organizationReference(ura, org?.id, org?.name);
  }

  async location(row: UnitRow, now = Date.now()): Promise<Location> {
    return toLocation(row, this.tables, await this.organizationRef(row.ura), now, this.staleSeconds);
  }

  isStale(row: UnitRow, now = Date.now()): boolean {
    return isStale(row, now, this.staleSeconds);
  }

  available(row: UnitRow): boolean {
    return this.tables.regional[row.status]?.available === true;
  }

  async forBoard(row: UnitRow): Promise<BoardUnit> {
    const org = await this.organization(row.ura);
    return {
      id: row.id,
      callSign: row.callSign,
      kind: row.kind,
      kindLabel: KIND_DISPLAY[row.kind] ?? row.kind,
      status: row.status,
      statusLabel: this.tables.regional[row.status]?.display ?? row.status,
      available: this.available(row),
      ura: row.ura,
      organization: org?.name,
      lat: row.lat,
      lon: row.lon,
      accuracyM: row.accuracyM,
      fixTime: row.fixTime,
      handoverId: row.handoverId,
    };
  }
}
