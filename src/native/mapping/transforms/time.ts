// Dates and instants: native `dd-mm-jjjj` and VVT local Europe/Amsterdam wall-clock time on one side,
// FHIR dates and instants with an offset on the other. Rendered instants carry the Amsterdam offset of
// that instant. The EU summer-time rule (last Sunday of March / October, 01:00 UTC) holds for the
// Netherlands since 1996; other years fall back to the platform's time zone data.

const RULE_FROM = 1996;
const RULE_TO = 2199;
const dstCache = new Map<number, [number, number]>();

function lastSundayAt0100Utc(year: number, month: number): number {
  const lastDay = new Date(Date.UTC(year, month + 1, 0));
  return Date.UTC(year, month, lastDay.getUTCDate() - lastDay.getUTCDay(), 1, 0, 0);
}

const intlOffset = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', timeZoneName: 'longOffset' });

/** Minutes east of UTC in Europe/Amsterdam at the instant `epochMs`. */
function amsterdamOffsetMinutes(epochMs: number): number {
  const year = new Date(epochMs).getUTCFullYear();
  if (year < RULE_FROM || year > RULE_TO) {
    const name = intlOffset.formatToParts(new Date(epochMs)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
    return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  }
  let dst = dstCache.get(year);
  if (!dst) dstCache.set(year, (dst = [lastSundayAt0100Utc(year, 2), lastSundayAt0100Utc(year, 9)]));
  return epochMs >= dst[0] && epochMs < dst[1] ? 120 : 60;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The wall-clock fields of `epochMs` shifted by `offset` minutes. */
function wallClock(epochMs: number, offset: number): Date {
  return new Date(epochMs + offset * 60_000);
}

function formatInstant(epochMs: number, fraction = ''): string {
  const offset = amsterdamOffsetMinutes(epochMs);
  const d = wallClock(epochMs, offset);
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fraction}${formatOffset(offset)}`
  );
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** An instant with any offset, written with the Europe/Amsterdam offset of that instant (fraction kept as sent). */
export function instantToAmsterdam(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = INSTANT.exec(value);
  if (!m) return value;
  return formatInstant(Date.parse(value), m[1] ?? '');
}

function parseNlDate(value: string): [number, number, number] | undefined {
  const m = /^(\d{2})-(\d{2})-(\d{4})$/.exec(value) ?? /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return undefined;
  return value[2] === '-' ? [Number(m[3]), Number(m[2]), Number(m[1])] : [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** `dd-mm-jjjj` to FHIR `YYYY-MM-DD`. */
export function nlDateToIso(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{2})-(\d{2})-(\d{4})$/.exec(value);
  return m ? `${m[3]}-${m[2]}-${m[1]}` : undefined;
}

/** FHIR `YYYY-MM-DD` to `dd-mm-jjjj`. */
export function isoDateToNl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  return m ? `${m[3]}-${m[2]}-${m[1]}` : undefined;
}

/**
 * Local Amsterdam date and time to an instant. On the night summer time ends the doubled hour means its
 * first occurrence (summer time); on the night it starts, the missing hour is an error (validation refuses
 * such records before they get here).
 */
function localToInstant(date: string, time: string, dayOffset = 0): string {
  const d = parseNlDate(date);
  const t = /^(\d{2}):(\d{2})$/.exec(time);
  if (!d || !t) throw new Error(`not a local date and time: ${date} ${time}`);
  const wall = Date.UTC(d[0], d[1] - 1, d[2] + dayOffset, Number(t[1]), Number(t[2]));
  for (const offset of [120, 60]) {
    const epoch = wall - offset * 60_000;
    if (amsterdamOffsetMinutes(epoch) === offset) return formatInstant(epoch);
  }
  throw new Error(`${date} ${time} does not exist in Europe/Amsterdam (summer time starts)`);
}

function epochOf(value: unknown): number | undefined {
  if (typeof value !== 'string' || !INSTANT.test(value)) return undefined;
  return Date.parse(value);
}

/** Instant to the Amsterdam local date `dd-mm-jjjj`. */
export function instantToNlDate(value: unknown): string | undefined {
  const epoch = epochOf(value);
  if (epoch === undefined) return undefined;
  const d = wallClock(epoch, amsterdamOffsetMinutes(epoch));
  return `${pad(d.getUTCDate())}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCFullYear(), 4)}`;
}

/** Instant to the Amsterdam local time `uu:mm`. */
export function instantToNlTime(value: unknown): string | undefined {
  const epoch = epochOf(value);
  if (epoch === undefined) return undefined;
  const d = wallClock(epoch, amsterdamOffsetMinutes(epoch));
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** VVT `{date, time}` to an instant. */
export function localDateTime(input: unknown): string | undefined {
  const { date, time } = (input ?? {}) as { date?: unknown; time?: unknown };
  if (typeof date !== 'string' || typeof time !== 'string') return undefined;
  return localToInstant(date, time);
}

/** VVT wished window `{date, from, to}`: `to` earlier than `from` means the next day. */
export function localWindow(input: unknown): { start: string; end?: string } | undefined {
  const { date, from, to } = (input ?? {}) as { date?: unknown; from?: unknown; to?: unknown };
  if (typeof date !== 'string' || typeof from !== 'string') return undefined;
  const start = localToInstant(date, from);
  if (typeof to !== 'string') return { start };
  return { start, end: localToInstant(date, to, to < from ? 1 : 0) };
}
