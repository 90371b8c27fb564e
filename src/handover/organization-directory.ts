import type { Repository } from '../fhir/repository.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import { organizationByUra } from './references.ts';

/**
 * URA → Organization, remembered for a short while. A native record names the same two or three
 * organisations many times over; asking the database each time was a tenth of an ingest's work.
 * Only found organisations are remembered, so a newly registered one is seen at once.
 */
export class OrganizationDirectory {
  private readonly ttlMs: number;
  private readonly known = new Map<string, { org: StoredVersion; until: number }>();

  constructor(ttlMs = 60_000) {
    this.ttlMs = ttlMs;
  }

  async byUra(repo: Repository, ura: string): Promise<StoredVersion | undefined> {
    const hit = this.known.get(ura);
    if (hit && hit.until > Date.now()) return hit.org;
    const org = await organizationByUra(repo, ura);
    if (org) this.known.set(ura, { org, until: Date.now() + this.ttlMs });
    else this.known.delete(ura);
    return org;
  }
}
