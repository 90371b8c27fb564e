// Dutch names: the prefix (voorvoegsel) is kept apart in the HL7 own-prefix / own-name extensions of
// HumanName.family, initials are marked with the EN-qualifier `IN`, so each native spelling comes back exactly.
import type { Extension, HumanName } from '@medplum/fhirtypes';

const OWN_PREFIX = 'http://hl7.org/fhir/StructureDefinition/humanname-own-prefix';
const OWN_NAME = 'http://hl7.org/fhir/StructureDefinition/humanname-own-name';
const EN_QUALIFIER = 'http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier';

type Sidecar = { extension?: Extension[] } | null;
type DutchName = HumanName & { _family?: Sidecar; _given?: Sidecar[] };

function build(own: string, prefix: string | undefined, given: string[], initials: boolean, text?: string): DutchName {
  const name: DutchName = {};
  if (text) name.text = text;
  name.family = prefix ? `${prefix} ${own}` : own;
  name._family = {
    extension: [...(prefix ? [{ url: OWN_PREFIX, valueString: prefix }] : []), { url: OWN_NAME, valueString: own }],
  };
  if (given.length > 0) {
    name.given = given;
    if (initials) name._given = given.map(() => ({ extension: [{ url: EN_QUALIFIER, valueCode: 'IN' }] }));
  }
  return name;
}

const isInitials = (token: string): boolean => /^(\p{L}{1,3}\.)+$/u.test(token);
const isPrefixWord = (token: string): boolean => /^(\p{Ll}|')[\p{Ll}']*$/u.test(token);

function ext(sidecar: Sidecar | undefined, url: string): string | undefined {
  const e = sidecar?.extension?.find((x) => x.url === url);
  return e?.valueString ?? e?.valueCode;
}

function parts(name: DutchName): { own?: string; prefix?: string; givens: { value: string; initial: boolean }[] } {
  const own = ext(name._family, OWN_NAME) ?? name.family;
  const prefix = ext(name._family, OWN_PREFIX);
  const givens = (name.given ?? []).map((value, i) => ({ value, initial: ext(name._given?.[i], EN_QUALIFIER) === 'IN' }));
  return { own, prefix, givens };
}

const asName = (value: unknown): DutchName | undefined =>
  value && typeof value === 'object' ? (value as DutchName) : undefined;

/** VVT list form `achternaam, voorletters[ voorvoegsel]` (`Vries, G. de`) to a HumanName; unparseable: text only. */
export function parseListName(value: unknown): DutchName | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^([^,]+), (.+)$/.exec(value);
  if (m && m[1].trim() === m[1]) {
    const tokens = m[2].split(' ');
    let i = 0;
    while (i < tokens.length && isInitials(tokens[i])) i++;
    const prefixTokens = tokens.slice(i);
    if (prefixTokens.every(isPrefixWord)) {
      const name = build(m[1], prefixTokens.join(' ') || undefined, tokens.slice(0, i), true);
      if (formatListName(name) === value) return name;
    }
  }
  return { text: value };
}

/** HumanName to the VVT list form; given names become initials. */
export function formatListName(value: unknown): string | undefined {
  const name = asName(value);
  if (!name) return undefined;
  const { own, prefix, givens } = parts(name);
  if (!own) return name.text;
  const initials = givens.every((g) => g.initial)
    ? givens.map((g) => g.value).join(' ')
    : givens.map((g) => (g.initial ? g.value : `${g.value[0].toUpperCase()}.`)).join('');
  const tail = [initials, prefix].filter(Boolean).join(' ');
  return tail ? `${own}, ${tail}` : own;
}

/**
 * Ambulance names are one string as spoken (`A.J. de Jong`, `onbekende man`): kept as text, and split into
 * parts only when it is clearly initials, prefix and surname.
 */
export function parseSpokenName(value: unknown): DutchName | undefined {
  if (typeof value !== 'string') return undefined;
  const tokens = value.split(' ');
  let i = 0;
  while (i < tokens.length && isInitials(tokens[i])) i++;
  let j = i;
  while (j < tokens.length - 1 && isPrefixWord(tokens[j])) j++;
  const own = tokens.slice(j).join(' ');
  if (i === 0 || j >= tokens.length || !/^\p{Lu}/u.test(own)) return { text: value };
  return build(own, tokens.slice(i, j).join(' ') || undefined, tokens.slice(0, i), true, value);
}

/** HumanName as spoken: its text, else given names, prefix and surname. */
export function formatSpokenName(value: unknown): string | undefined {
  const name = asName(value);
  if (!name) return undefined;
  if (name.text) return name.text;
  const { own, prefix, givens } = parts(name);
  return [...givens.map((g) => g.value), prefix, own].filter(Boolean).join(' ') || undefined;
}

/** Given names that are not initials, space separated (NTS `voornamen`). */
export function givenNames(value: unknown): string | undefined {
  const name = asName(value);
  if (!name) return undefined;
  return (
    parts(name)
      .givens.filter((g) => !g.initial)
      .map((g) => g.value)
      .join(' ') || undefined
  );
}
