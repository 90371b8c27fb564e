// The reading half of the FHIR repository (./repository.ts): what the organisation acting may see, and the reads,
// history and searches limited to it. The repository adds transactions and the write path on top.
import type { RequestContext } from '../context.ts';
import type { Queryable, Tx } from '../store/database.ts';
import { resourceStore, type LookupCondition, type PartyScope, type StoredVersion, type TokenLookup } from '../store/resource-store.ts';
import { canChange, canRead, DIRECTORY_TYPES, OWNER_ONLY_TYPES, ownedParties, readableParties } from '../access/policy.ts';
import { gone, notFound } from './outcomes.ts';
import type { SearchParameterRegistry } from './search/parameters.ts';
import { parseSearch, type Query, type SearchOptions, type SearchRequest } from './search/parse.ts';
import { runSearch, searchAnswer, type SearchAnswer, type SearchResult } from './search/execute.ts';
import { ID_PATTERN } from './resource-types.ts';
import type { RepositoryDeps } from './repository.ts';
import type { OpenTransaction, TxState } from './write-phases.ts';

/** Reads for the organisation acting: a resource it may not read answers exactly as one that does not exist. */
export class RepositoryReads {
  protected readonly deps: RepositoryDeps;
  readonly ctx: RequestContext;
  /** The write transaction this repository is bound to (one attempt of it), if any: its handle and its state. */
  private readonly open?: OpenTransaction;

  constructor(deps: RepositoryDeps, ctx: RequestContext, open?: OpenTransaction) {
    this.deps = deps;
    this.ctx = ctx;
    this.open = open;
  }

  protected get tx(): Tx | undefined {
    return this.open?.tx;
  }

  get registry(): SearchParameterRegistry {
    return this.deps.registry;
  }

  /** What this organisation may see: every read, search, include and history goes through it. */
  protected get scope(): PartyScope {
    const owned = ownedParties(this.ctx);
    return { parties: readableParties(this.ctx), open: DIRECTORY_TYPES, ownerOnly: owned && { types: OWNER_ONLY_TYPES, parties: owned } };
  }

  /** Whether the acting organisation may change `v` (party to it), as opposed to only reading it. */
  mayChange(v: StoredVersion): boolean {
    return canChange(this.ctx, v.resourceType, v.parties);
  }

  /** Whether the caller may read `v` (a version read without that check, such as one locked ahead). */
  mayRead(v: StoredVersion): boolean {
    return this.visible(v) !== undefined;
  }

  /** A resource the caller may not read answers exactly as one that does not exist. */
  protected visible(found: StoredVersion | undefined): StoredVersion | undefined {
    return found && canRead(this.ctx, found.resourceType, found.parties) ? found : undefined;
  }

  protected get q(): Queryable {
    return this.tx ?? this.deps.db;
  }

  /** The open transaction, for gateway code that writes its own tables beside the resources. */
  txHandle(): Tx {
    return this.openTransaction().tx;
  }

  /** The open transaction's state, for gateway code whose writes hand the write phases something of its own (ingest's parties ahead). */
  txState(): TxState {
    return this.openTransaction().state;
  }

  /**
   * The open transaction with its state: for a repository acting for someone else in it (the gateway's own writes),
   * and for lookups that must know what the transaction wrote (src/access/organizations.ts).
   */
  openTransaction(): OpenTransaction {
    if (!this.open) throw new Error('txHandle() is only available inside Repository.transaction()');
    return this.open;
  }

  async read(resourceType: string, id: string): Promise<StoredVersion> {
    const found = this.visible(ID_PATTERN.test(id) ? await this.current(resourceType, id) : undefined);
    if (!found) throw notFound(`${resourceType}/${id} is not known`);
    if (found.deleted) throw gone(`${resourceType}/${id} was deleted`);
    return found;
  }

  /** Outside a transaction, read together with other requests' reads arriving meanwhile (src/store/shared-reads.ts). */
  private current(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return this.tx ? resourceStore.current(this.tx, resourceType, id) : resourceStore.currentShared(this.deps.db, resourceType, id);
  }

  async vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion> {
    const current = this.visible(ID_PATTERN.test(id) ? await resourceStore.current(this.q, resourceType, id) : undefined);
    const found = current ? await resourceStore.version(this.q, resourceType, id, versionId) : undefined;
    if (!found) throw notFound(`${resourceType}/${id}/_history/${versionId} is not known`);
    if (found.deleted) throw gone(`${resourceType}/${id} version ${versionId} is a deletion`);
    return found;
  }

  async history(filter: { resourceType?: string; id?: string; since?: string; types?: string[] }, count: number, offset: number) {
    if (filter.id && filter.resourceType) await this.readOrDeleted(filter.resourceType, filter.id);
    return resourceStore.history(this.q, filter, count, offset, this.scope);
  }

  private async readOrDeleted(resourceType: string, id: string): Promise<StoredVersion> {
    const found = this.visible(ID_PATTERN.test(id) ? await resourceStore.current(this.q, resourceType, id) : undefined);
    if (!found) throw notFound(`${resourceType}/${id} is not known`);
    return found;
  }

  parseSearch(resourceType: string, query: Query, options?: SearchOptions): SearchRequest {
    return parseSearch(this.deps.registry, resourceType, query, options);
  }

  /** What `resourceStore.currentByTokens` finds of what this reader may see: several token lookups in one statement. */
  async currentByTokens(lookups: TokenLookup[], onlyIf?: LookupCondition): Promise<StoredVersion[][]> {
    return resourceStore.currentByTokens(this.q, lookups, this.scope, onlyIf);
  }

  async search(req: SearchRequest): Promise<SearchResult> {
    return runSearch(this.q, req, this.scope);
  }

  /** A search for a FHIR answer: the same matches as `search`, each only as its Bundle entry needs it. */
  async searchAnswer(req: SearchRequest): Promise<SearchAnswer> {
    return searchAnswer(this.q, req, this.scope);
  }
}
