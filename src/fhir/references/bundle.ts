import { parseLiteral } from './literal.ts';

/**
 * The fullUrls of a transaction's entries and the `Type/id` each gets on this server, and how a reference in
 * one entry finds another (R4 bundle.html#references, http.html#trules): a `urn:uuid:`/`urn:oid:` or absolute
 * reference by its exact fullUrl; a relative reference (`Patient/hg-1`) resolved against the base of the
 * referring entry's absolute fullUrl, or else the one entry whose absolute fullUrl ends in that `Type/id`
 * (material such as Nictiz's writes absolute fullUrls and refers to them relatively from urn entries).
 */
export class FullUrlIndex {
  private readonly byFullUrl = new Map<string, string>();
  private readonly byTail = new Map<string, string[]>();

  /** Registers (or re-registers, after a conditional create found a match) the target of `fullUrl`. */
  set(fullUrl: string, target: string): void {
    this.byFullUrl.set(fullUrl, target);
    const literal = parseLiteral(fullUrl);
    if (literal.kind !== 'absolute' || literal.version) return;
    const tail = `${literal.type}/${literal.id}`;
    const urls = this.byTail.get(tail) ?? [];
    if (!urls.includes(fullUrl)) urls.push(fullUrl);
    this.byTail.set(tail, urls);
  }

  get(fullUrl: string): string | undefined {
    return this.byFullUrl.get(fullUrl);
  }

  /** The server's `Type/id` for `reference` written in the entry with `from` as its fullUrl, or undefined. */
  resolve(reference: string, from: string | undefined): string | undefined {
    const exact = this.byFullUrl.get(reference);
    if (exact) return exact;
    const literal = parseLiteral(reference);
    if (literal.kind === 'absolute') {
      // A versioned reference to an entry: the version this transaction writes is the current one.
      return literal.version ? this.byFullUrl.get(`${literal.base}/${literal.type}/${literal.id}`) : undefined;
    }
    if (literal.kind !== 'relative') return undefined;
    const tail = `${literal.type}/${literal.id}`;
    const base = from ? parseLiteral(from) : undefined;
    if (base?.kind === 'absolute') {
      const sameServer = this.byFullUrl.get(`${base.base}/${tail}`);
      if (sameServer) return sameServer;
    }
    const candidates = this.byTail.get(tail) ?? [];
    return candidates.length === 1 ? this.byFullUrl.get(candidates[0]) : undefined;
  }
}
