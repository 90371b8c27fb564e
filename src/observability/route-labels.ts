import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** One path of the API description, as segments: literals, and `{name}` for a parameter. */
interface Template {
  path: string;
  segments: string[];
  literals: number;
  /** The label as far as it does not depend on the request: what comes before and after its one `{type}`, or all of it. */
  label: { before: string; after: string } | { whole: string };
}

/** The label of every path under these first segments that matches no template. */
const UNKNOWN_UNDER = new Set(['fhir', 'native', 'admin', 'board', 'docs', 'oauth2', '.well-known', 'health']);

/**
 * The route label of a request, for metrics and logs: the path of the API description it matched,
 * with `{type}` filled in by the resource type when it is one the gateway serves (so `/fhir/Task/{id}`,
 * `/fhir/Patient/{id}/_history/{vid}`, `/native/nts/{handoverId}`, `/board/events`). Everything else
 * falls into one label per area (`/fhir/{unknown}`, `/{unknown}`): the set of labels is fixed by the
 * description and the types, so no request, anonymous or not, can grow the registry, and no id or
 * query (a search by name) reaches a label.
 */
export class RouteLabels {
  /** By number of segments (a template matches only paths of its length), each list in the order they are tried. */
  private readonly templates = new Map<number, Template[]>();
  private readonly types: ReadonlySet<string>;

  constructor(paths: Iterable<string>, types: Iterable<string>) {
    this.types = new Set(types);
    const ordered = [...paths]
      .map((path) => {
        const segments = path.split('/').filter(Boolean);
        const at = segments.indexOf('{type}');
        if (at >= 0 && segments.lastIndexOf('{type}') !== at) throw new Error(`${path}: more than one {type}`);
        const label = at < 0 ? { whole: `/${segments.join('/')}` } : { before: `/${segments.slice(0, at).map((seg) => `${seg}/`).join('')}`, after: segments.slice(at + 1).map((seg) => `/${seg}`).join('') };
        return { path, segments, literals: segments.filter((s) => !isParameter(s)).length, label };
      })
      // Literal segments win: `/board/events` before `/board/{asset}`, `/fhir/ConceptMap/$translate` before `/fhir/{type}/{id}`.
      .sort((a, b) => b.literals - a.literals);
    for (const t of ordered) this.templates.set(t.segments.length, [...(this.templates.get(t.segments.length) ?? []), t]);
  }

  /** The paths of `openapi.yaml`, the description every endpoint must be declared in. */
  static fromOpenApi(file: string, types: Iterable<string>): RouteLabels {
    const doc = parseYaml(readFileSync(file, 'utf8')) as { paths?: Record<string, unknown> };
    if (!doc.paths) throw new Error(`${file}: no paths`);
    return new RouteLabels(Object.keys(doc.paths), types);
  }

  /** The label of a request path (the query string, if any, is ignored). */
  label(url: string): string {
    const path = url.split('?', 1)[0] ?? '';
    const parts = path.split('/').filter(Boolean);
    for (const t of this.templates.get(parts.length) ?? []) {
      const label = this.match(t, parts);
      if (label) return label;
    }
    const area = parts[0];
    return area !== undefined && UNKNOWN_UNDER.has(area) ? `/${area}/{unknown}` : '/{unknown}';
  }

  // Called for every request (the log line and the metrics): it checks segment by segment and makes only the label.
  private match(t: Template, parts: string[]): string | undefined {
    if (t.segments.length !== parts.length) return undefined;
    let type: string | undefined;
    for (let i = 0; i < parts.length; i++) {
      const seg = t.segments[i] ?? '';
      const part = parts[i] ?? '';
      if (!isParameter(seg)) {
        if (seg !== part) return undefined;
      } else if (seg === '{type}') {
        if (!this.types.has(part)) return undefined;
        type = part;
      } else if (part.startsWith('$') || part.startsWith('_')) {
        // Operations and _history/_search are never ids, as in the FHIR router.
        return undefined;
      }
    }
    return 'whole' in t.label ? t.label.whole : `${t.label.before}${type ?? ''}${t.label.after}`;
  }
}

function isParameter(segment: string): boolean {
  return segment.startsWith('{') && segment.endsWith('}');
}
