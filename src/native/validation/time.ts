// Calendar and clock arithmetic for the native formats. Plain integer arithmetic on purpose: Date.parse
// accepts impossible dates such as 2026-02-31 (rolling them over), which is exactly what we must catch.

export interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

export interface ClockTime {
  hour: number;
  minute: number;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function isRealDate({ year, month, day }: CalendarDate): boolean {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day)) return false;
  if (month < 1 || month > 12 || day < 1) return false;
  const days = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1];
  return day <= days;
}

/** `jjjj-mm-dd` (nts, ambulance) when it names a day that exists. */
export function parseIsoDate(text: string): CalendarDate | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const date = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  return isRealDate(date) ? date : undefined;
}

/** `dd-mm-jjjj` (vvt) when it names a day that exists. */
export function parseDutchDate(text: string): CalendarDate | undefined {
  const m = /^(\d{2})-(\d{2})-(\d{4})$/.exec(text);
  if (!m) return undefined;
  const date = { year: Number(m[3]), month: Number(m[2]), day: Number(m[1]) };
  return isRealDate(date) ? date : undefined;
}

/** `uu:mm` on a 24-hour clock, 00:00 to 23:59. */
export function parseClockTime(text: string): ClockTime | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(text);
  if (!m) return undefined;
  const time = { hour: Number(m[1]), minute: Number(m[2]) };
  return time.hour <= 23 && time.minute <= 59 ? time : undefined;
}

export function nextDay(date: CalendarDate): CalendarDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + 1));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export function formatDutchDate({ year, month, day }: CalendarDate): string {
  return `${String(day).padStart(2, '0')}-${String(month).padStart(2, '0')}-${String(year).padStart(4, '0')}`;
}

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)$/;

/**
 * The instant (epoch milliseconds) an ISO 8601 date-time with offset names, or undefined when its date,
 * time or offset does not exist (2026-02-31, 24:10, +25:00). Leap seconds are refused: no system here
 * produces them and the FHIR side cannot store them.
 */
export function parseOffsetDateTime(text: string): number | undefined {
  const m = ISO_DATE_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zulu, sign, oh, om] = m;
  const date = { year: Number(y), month: Number(mo), day: Number(d) };
  if (!isRealDate(date)) return undefined;
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (!zulu) {
    const offH = Number(oh);
    const offM = om === undefined ? 0 : Number(om);
    if (offH > 18 || offM > 59 || offH * 60 + offM > 18 * 60) return undefined;
    offsetMinutes = (sign === '-' ? -1 : 1) * (offH * 60 + offM);
  }
  const millis = frac === undefined ? 0 : Number(`0.${frac}`) * 1000;
  const local = Date.UTC(date.year, date.month - 1, date.day, hour, minute, second) + millis;
  // Date.UTC maps years 0..99 onto 1900..1999; setUTCFullYear puts them back.
  const fixed = new Date(local);
  fixed.setUTCFullYear(date.year);
  return fixed.getTime() - offsetMinutes * 60_000;
}

const DUTCH_TIME_ZONE = 'Europe/Amsterdam';

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(instant: number, timeZone: string): string {
  let fmt = formatters.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, fmt);
  }
  const parts = Object.fromEntries(fmt.formatToParts(new Date(instant)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/**
 * Every instant at which the wall clock in `timeZone` shows this date and time, earliest first: none in
 * the gap when summer time starts, two in the doubled hour when it ends (the formats mean the first).
 */
export function localTimeInstants(date: CalendarDate, time: ClockTime, timeZone = DUTCH_TIME_ZONE): number[] {
  const asUtc = Date.UTC(date.year, date.month - 1, date.day, time.hour, time.minute);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const wanted = `${pad(date.year, 4)}-${pad(date.month)}-${pad(date.day)}T${pad(time.hour)}:${pad(time.minute)}`;
  // A zone's offset is constant for at least a day around any transition, so the offsets a day before and
  // after are the only candidates.
  const offsets = new Set<number>();
  for (const probe of [asUtc - 86_400_000, asUtc + 86_400_000]) {
    offsets.add(Date.parse(`${wallClock(probe, timeZone)}Z`) - Math.floor(probe / 60_000) * 60_000);
  }
  return [...offsets]
    .map((offset) => asUtc - offset)
    .filter((instant) => wallClock(instant, timeZone) === wanted)
    .sort((a, b) => a - b);
}

/**
 * Fails when the runtime's time-zone data cannot tell the summer-time changes apart (a Node build without
 * full ICU, or a broken tzdata), which would otherwise let impossible local times through unnoticed.
 */
export function assertTimeZoneData(timeZone = DUTCH_TIME_ZONE): void {
  let gap: number[];
  let doubled: number[];
  try {
    gap = localTimeInstants({ year: 2026, month: 3, day: 29 }, { hour: 2, minute: 30 }, timeZone);
    doubled = localTimeInstants({ year: 2026, month: 10, day: 25 }, { hour: 2, minute: 30 }, timeZone);
  } catch (err) {
    throw new Error(`time-zone data for ${timeZone} is not available: ${(err as Error).message}`, { cause: err });
  }
  if (gap.length !== 0 || doubled.length !== 2) {
    throw new Error(`time-zone data for ${timeZone} does not know the 2026 summer-time changes; the runtime needs full ICU`);
  }
}
