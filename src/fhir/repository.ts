import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { Operation } from '@medplum/core';
import type { Database, Tx } from '../store/database.ts';
import { resourceStore, type StoredVersion } from '../store/resource-store.ts';
import { RepositoryReads } from './repository-reads.ts';
import { canChange, checkOrganizationWrite, checkWriteAllowed } from '../access/policy.ts';
import { badRequest, forbidden, gone, methodNotAllowed, notFound, preconditionFailed } from './outcomes.ts';
import { extractIndexValues } from './search/index-values.ts';
import type { SearchParameterRegistry } from './search/parameters.ts';
import type { Query } from './search/parse.ts';
import { ID_PATTERN } from './resource-types.ts';
import { parseQuery } from '../http/query.ts';
import { patchedCopy, sameContent, withMeta } from './version-content.ts';
import { TxSlot, type Interaction, type WritePipeline, type WriteTx } from './write-phases.ts';
import { WriteBehindTx } from '../store/write-behind.ts';
import { newResourceId } from '../store/time-ordered-id.ts';

/** Computes the organisations party to a resource at a write (src/access/parties.ts), stored beside it for authorization. */
type PartiesOf = (w: WriteTx, resource: Resource, previous: readonly string[]) => Promise<string[]>;

export interface RepositoryDeps {
  db: Database;
  registry: SearchParameterRegistry;
  /** The write phases (src/fhir/write-phases.ts): what every write passes, whichever route it comes through. */
  phases: WritePipeline;
  partiesOf?: PartiesOf;
}

export interface WriteResult {
  stored: StoredVersion;
  /** false when a conditional create found an existing match, or an update changed nothing. */
  changed: boolean;
  created: boolean;
  /** What the profile says SHOULD be otherwise (warning invariants): the write succeeded; the answer reports them. */
  warnings?: OperationOutcomeIssue[];
}

/**
 * An advisory lock by name (`$1`), as a statement that returns no row (the lock's void value is not NULL), so that it
 * can go ahead of another in one round trip (QueryOptions.ahead).
 */
const LOCK_AHEAD = 'SELECT 1 WHERE pg_advisory_xact_lock(hashtext($1)) IS NULL';

/** The lock names this transaction has taken (`takeLocks`): a name is taken once. */
const LOCKS_TAKEN = new TxSlot<Set<string>>('locks taken', () => new Set());

export function parseIfMatch(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(header.trim());
  if (!m) throw badRequest(`If-Match must be a version ETag like W/"3", got '${header}'`, ['If-Match']);
  return m[1];
}

/**
 * The FHIR repository, bound to the organisation acting. Every read and write of every route goes
 * through here, so that validation, versioning and (later) authorization cannot be forgotten.
 */
export class Repository extends RepositoryReads {
  /** The same transaction, acting as the gateway for the same organisation: for ingest's server-owned writes (Provenance) and patient matching. */
  asGateway(): Repository {
    return new Repository(this.deps, { ...this.ctx, roles: ['system'] }, this.openTransaction());
  }

  /** Before a change: unknown to the caller as a read would be, and refused when it may read but not change it. */
  private changeable(found: StoredVersion | undefined): StoredVersion | undefined {
    const seen = this.visible(found);
    if (seen && !canChange(this.ctx, seen.resourceType, seen.parties)) {
      throw forbidden(`${seen.resourceType}/${seen.id} belongs to a handover your organisation is not party to: it may read it, not change it`);
    }
    if (seen?.resourceType === 'Organization') checkOrganizationWrite(this.ctx, seen.content, undefined);
    return seen;
  }

  /** The transaction every write runs in (writes always go through `transaction()`). */
  private get writeTx(): Tx {
    return this.txHandle();
  }

  /** What the write phases are handed: the transaction, its state, and who writes. */
  private get phaseCall(): WriteTx {
    return { ...this.openTransaction(), ctx: this.ctx };
  }

  /**
   * Runs `work` in one transaction with a repository bound to it (joins the current one if any). A transaction
   * the database broke off to settle a conflict is run again from its start with a fresh state (the write
   * phases' `transaction`): only whole transactions, never a joined one, so `work` and the write phases must
   * keep what they collect per attempt (in the transaction's state), not across attempts.
   */
  async transaction<T>(work: (repo: Repository) => Promise<T>): Promise<T> {
    if (this.tx) return work(this);
    return this.deps.phases.transaction(this.deps.db, this.ctx, async (open) => work(new Repository(this.deps, this.ctx, open)));
  }

  // --- writes ------------------------------------------------------------------------------

  /** Creates a resource; an `id` on it is used as is (only gateway code sets one: REST strips the client's). */
  async create(resource: Resource, options: { ifNoneExist?: string } = {}): Promise<WriteResult> {
    checkWriteAllowed(this.ctx, resource.resourceType);
    if (resource.resourceType === 'Organization') checkOrganizationWrite(this.ctx, undefined, resource);
    return this.transaction(async (repo) => repo.createInTx(resource, options));
  }

  /**
   * `locked`: the resource's current version as this transaction read and locked it (`lockCurrent`) and has not
   * changed since (nor spread parties to it by writing a Task): then it is not read again.
   */
  async update(resource: Resource, options: { ifMatch?: string; locked?: StoredVersion } = {}): Promise<WriteResult> {
    checkWriteAllowed(this.ctx, resource.resourceType);
    if (resource.resourceType === 'Organization') checkOrganizationWrite(this.ctx, undefined, resource);
    const locked = options.locked?.resourceType === resource.resourceType && options.locked.id === resource.id ? options.locked : undefined;
    return this.transaction(async (repo) => repo.updateInTx(resource, options, locked && repo.changeable(locked)));
  }

  /**
   * Reads and locks (FOR UPDATE) the current versions of `refs` in one statement, in (type, id) order, for the updates
   * this transaction is about to make (`update(resource, { locked })`): one round trip instead of one per update (a
   * native record's patient, encounter and findings). Not for a type whose writers take lock names before its row
   * (a Task: WritePipeline.lockKeys) unless this transaction took them already (`takeLocks`: a native record takes its
   * group's first); those names would otherwise follow the row lock.
   */
  async lockCurrent(refs: readonly { resourceType: string; id: string }[]): Promise<StoredVersion[]> {
    return this.transaction(async (repo) => resourceStore.currentLocked(repo.writeTx, refs));
  }

  async delete(resourceType: string, id: string, options: { ifMatch?: string } = {}): Promise<WriteResult | undefined> {
    checkWriteAllowed(this.ctx, resourceType);
    return this.transaction(async (repo) => repo.deleteInTx(resourceType, id, options));
  }

  async patch(resourceType: string, id: string, patch: Operation[], options: { ifMatch?: string } = {}): Promise<WriteResult> {
    checkWriteAllowed(this.ctx, resourceType);
    return this.transaction(async (repo) => {
      const current = repo.changeable(await repo.currentAfterLocks(resourceType, id));
      if (!current) throw notFound(`${resourceType}/${id} is not known`);
      // As a read: a deleted resource is gone (410), not unknown.
      if (current.deleted) throw gone(`${resourceType}/${id} was deleted`);
      const patched = patchedCopy(current.content, patch);
      if (resourceType === 'Organization') checkOrganizationWrite(repo.ctx, undefined, patched);
      return repo.updateInTx(patched, options, current);
    });
  }

  private async createInTx(resource: Resource, options: { ifNoneExist?: string }): Promise<WriteResult> {
    const tx = this.writeTx;
    // Callers inside the gateway (transactions) may preassign a server-made id; REST clients cannot.
    const id = resource.id && ID_PATTERN.test(resource.id) ? resource.id : newResourceId();
    if (options.ifNoneExist !== undefined) {
      const query = parseConditionalQuery(options.ifNoneExist);
      const key = conditionalKey(query);
      // The key makes creates with the same condition wait for each other; the search below then decides,
      // not the key's holder: that resource may have been deleted or changed so that it no longer matches.
      const holder = await resourceStore.claimConditionalKey(tx, resource.resourceType, key, id);
      // Lock the key row held by an earlier create, so that two creates finding no match cannot both create.
      if (holder) await tx.query('UPDATE conditional_keys SET id = $3 WHERE resource_type = $1 AND key = $2', [resource.resourceType, key, id]);
      const matches = await this.search({ ...this.parseSearch(resource.resourceType, query), count: 2, total: 'none', offset: 0 });
      if (matches.unknown.length > 0) throw badRequest(`If-None-Exist uses unknown search parameters: ${matches.unknown.join(', ')}`, ['If-None-Exist']);
      if (matches.resources.length > 1) throw preconditionFailed(`If-None-Exist matches more than one ${resource.resourceType}`, ['If-None-Exist']);
      if (matches.resources.length === 1) {
        const match = matches.resources[0];
        await tx.query('UPDATE conditional_keys SET id = $3 WHERE resource_type = $1 AND key = $2', [resource.resourceType, key, match.id]);
        return { stored: match, changed: false, created: false };
      }
    }
    await this.takeLocks(resource);
    const { stored, warnings } = await this.writeVersion(resource, id, '1', 'create', undefined);
    return { stored, changed: true, created: true, warnings };
  }

  private async updateInTx(resource: Resource, options: { ifMatch?: string }, locked?: StoredVersion): Promise<WriteResult> {
    const tx = this.writeTx;
    const id = resource.id;
    if (!id || !ID_PATTERN.test(id)) throw badRequest('An update needs a valid id', [`${resource.resourceType}.id`]);
    if (!locked) await this.takeLocks(resource);
    const current = locked ?? this.changeable(await resourceStore.current(tx, resource.resourceType, id, true));
    if (!current) throw methodNotAllowed(`${resource.resourceType}/${id} does not exist; this server assigns ids, create it with POST`);
    if (options.ifMatch !== undefined && options.ifMatch !== current.versionId) {
      throw preconditionFailed(`${resource.resourceType}/${id} is at version ${current.versionId}, not ${options.ifMatch}: read it again and retry`, ['If-Match']);
    }
    if (!current.deleted && sameContent(current.content, withMeta(resource, id, current.versionId, current.lastUpdated, current.content))) return { stored: current, changed: false, created: false };
    const { stored, warnings } = await this.writeVersion(resource, id, String(Number(current.versionId) + 1), 'update', current);
    return { stored, changed: true, created: false, warnings };
  }

  /**
   * Takes `resource`'s lock names (WritePipeline.lockKeys: a Task's group of candidates) before the write reads
   * anything, once per transaction. Each goes ahead of the transaction's next statement, in its round trip
   * (WriteBehindTx.holdStatement): that statement and every later one start after the lock is held, so they see what
   * the group's previous holder committed. As a statement of its own it was a round trip of every Task update (an
   * accept, a refusal), and a create took none, so that two organisations opening one group at once both passed the
   * check that a group is its requester's (src/handover/workflow.ts).
   * It reads no resource: the resource writes held back (src/store/write-behind.ts) go later, with the next ones. Each
   * is of a row this transaction already locked (or a new one), so no row lock moves behind the advisory lock.
   */
  async takeLocks(resource: Resource): Promise<void> {
    const keys = this.deps.phases.lockKeys(resource);
    if (keys.length === 0) return;
    const { tx, state } = this.openTransaction();
    const taken = state.get(LOCKS_TAKEN);
    for (const key of keys) {
      if (taken.has(key)) continue;
      taken.add(key);
      if (tx instanceof WriteBehindTx) tx.holdStatement({ sql: LOCK_AHEAD, params: [key] }, { readsNoWrite: true });
      else await tx.query(LOCK_AHEAD, [key], { reads: [] });
    }
  }

  /**
   * The current version of `resourceType/id`, locked (FOR UPDATE) after its lock names (`takeLocks`), which it is read
   * once without the row lock to learn: for a change that has only the id (a patch, a delete). Undefined when absent.
   */
  private async currentAfterLocks(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    const unlocked = await resourceStore.current(this.writeTx, resourceType, id);
    if (!unlocked) return undefined;
    await this.takeLocks(unlocked.content);
    return resourceStore.current(this.writeTx, resourceType, id, true);
  }

  private async deleteInTx(resourceType: string, id: string, options: { ifMatch?: string }): Promise<WriteResult | undefined> {
    // A Task deleted leaves its group of candidates: its lock names first.
    const current = this.changeable(await this.currentAfterLocks(resourceType, id));
    if (!current) throw notFound(`${resourceType}/${id} is not known`);
    if (options.ifMatch !== undefined && options.ifMatch !== current.versionId) {
      throw preconditionFailed(`${resourceType}/${id} is at version ${current.versionId}, not ${options.ifMatch}`, ['If-Match']);
    }
    if (current.deleted) return undefined;
    const versionId = String(Number(current.versionId) + 1);
    const lastUpdated = new Date().toISOString();
    const stored: StoredVersion = {
      resourceType,
      id,
      versionId,
      lastUpdated,
      deleted: true,
      content: withMeta(current.content, id, versionId, lastUpdated, current.content),
    };
    await this.deps.phases.beforeWrite(this.phaseCall, { interaction: 'delete', previous: current, next: stored.content, warnings: [] });
    // A deletion keeps its parties: they still read it as gone (410) and its history.
    await resourceStore.write(this.writeTx, stored, { tokens: [], strings: [], dates: [] }, current.parties ?? [], false);
    await this.deps.phases.afterWrite(this.phaseCall, { interaction: 'delete', previous: current, stored });
    return { stored, changed: true, created: false };
  }

  private async writeVersion(
    resource: Resource,
    id: string,
    versionId: string,
    interaction: Interaction,
    previous: StoredVersion | undefined,
  ): Promise<{ stored: StoredVersion; warnings?: OperationOutcomeIssue[] }> {
    const tx = this.writeTx;
    const lastUpdated = new Date().toISOString();
    const next = withMeta(resource, id, versionId, lastUpdated, previous?.content);
    // Validation is a phase: the resource is checked as the phases before it left it. A phase may add warnings (a
    // SHOULD the resource breaks): the write stands and its answer reports them.
    const change = { interaction, previous, next, warnings: [] as OperationOutcomeIssue[] };
    // One phase call for the write's three phase calls: the same transaction, state and writer each time.
    const call = this.phaseCall;
    await this.deps.phases.beforeWrite(call, change);
    const stored: StoredVersion = { resourceType: next.resourceType, id, versionId, lastUpdated, deleted: false, content: next };
    const index = extractIndexValues(this.deps.registry, next);
    // The resource's own tokens are distinct already; most writes derive none (a Set and two copies each otherwise).
    const derived = await this.deps.phases.indexTokens(call, next);
    if (derived.length > 0) index.tokens = [...new Set([...index.tokens, ...derived])];
    const parties = this.deps.partiesOf ? await this.deps.partiesOf(call, next, previous?.parties ?? []) : [];
    await resourceStore.write(tx, stored, index, parties, interaction === 'create');
    await this.deps.phases.afterWrite(call, { interaction, previous, stored });
    return { stored, warnings: change.warnings.length ? change.warnings : undefined };
  }
}

/** `identifier=a|b&status=x` as a query; the order of parameters does not matter. */
export function parseConditionalQuery(raw: string): Query {
  const text = raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : raw;
  // The request query parser: on a plain object, `__proto__=x` or `constructor=x` reached Object.prototype (a 500).
  const query = parseQuery(`?${text}`);
  if (Object.keys(query).length === 0) throw badRequest('A conditional request needs search parameters', ['If-None-Exist']);
  return query;
}

function conditionalKey(query: Query): string {
  return Object.keys(query)
    .sort()
    .map((k) => `${k}=${[...query[k]].sort().join(',')}`)
    .join('&');
}
