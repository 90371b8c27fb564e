// Named checks for what FHIRPath on plain JSON cannot say well: arithmetic on digits, calendars, time
// zones and comparing instants written with different offsets. rules.json refers to them by name.
import { fieldLabel, valueAt } from './json-path.ts';
import {
  formatDutchDate,
  localTimeInstants,
  nextDay,
  parseClockTime,
  parseDutchDate,
  parseIsoDate,
  parseOffsetDateTime,
} from './time.ts';

/** A field a rule names, as written (`$.patient.bsn`) and split into member names. */
export interface FieldRef {
  path: string;
  segments: string[];
}

type CheckArgSpec =
  | { kind: 'field'; optional?: boolean }
  | { kind: 'fields' }
  | { kind: 'choice'; choices: readonly string[] };

export type CheckArg = FieldRef | FieldRef[] | string;

/** One failure: the offending field and the values a rule's message may quote as `{name}`. */
interface CheckFailure {
  path: string;
  vars: Record<string, string>;
}

export interface CheckDefinition {
  args: Record<string, CheckArgSpec>;
  /** Placeholders the failures fill in, for messages. */
  vars: readonly string[];
  run(record: unknown, args: Record<string, CheckArg>): CheckFailure[];
}

function presentStrings(record: unknown, fields: FieldRef[]): { ref: FieldRef; value: string }[] {
  const found: { ref: FieldRef; value: string }[] = [];
  for (const ref of fields) {
    const value = valueAt(record, ref.segments);
    // Other types are the schema's to report; a rule only judges what the schema let through.
    if (typeof value === 'string') found.push({ ref, value });
  }
  return found;
}

function stringAt(record: unknown, ref: FieldRef | undefined): string | undefined {
  if (!ref) return undefined;
  const value = valueAt(record, ref.segments);
  return typeof value === 'string' ? value : undefined;
}

const BSN_WEIGHTS = [9, 8, 7, 6, 5, 4, 3, 2, -1];

/**
 * The 11-proof for a BSN: weights 9..2 and −1, sum divisible by 11. 000000000 passes the arithmetic but
 * is the placeholder systems use for "unknown", which must not identify a patient.
 */
export function passesBsn11Proof(bsn: string): boolean {
  if (!/^\d{9}$/.test(bsn) || bsn === '000000000') return false;
  const sum = [...bsn].reduce((acc, digit, i) => acc + Number(digit) * BSN_WEIGHTS[i], 0);
  return sum % 11 === 0;
}

export const CHECKS: Readonly<Record<string, CheckDefinition>> = {
  bsn11Proof: {
    args: { fields: { kind: 'fields' } },
    vars: ['field', 'value'],
    run(record, args) {
      return presentStrings(record, args.fields as FieldRef[])
        .filter(({ value }) => !passesBsn11Proof(value))
        .map(({ ref, value }) => ({ path: ref.path, vars: { field: fieldLabel(ref.path), value } }));
    },
  },

  calendarDate: {
    args: { fields: { kind: 'fields' }, format: { kind: 'choice', choices: ['jjjj-mm-dd', 'dd-mm-jjjj'] } },
    vars: ['field', 'value'],
    run(record, args) {
      const parse = args.format === 'dd-mm-jjjj' ? parseDutchDate : parseIsoDate;
      return presentStrings(record, args.fields as FieldRef[])
        .filter(({ value }) => parse(value) === undefined)
        .map(({ ref, value }) => ({ path: ref.path, vars: { field: fieldLabel(ref.path), value } }));
    },
  },

  offsetDateTime: {
    args: { fields: { kind: 'fields' } },
    vars: ['field', 'value'],
    run(record, args) {
      return presentStrings(record, args.fields as FieldRef[])
        .filter(({ value }) => parseOffsetDateTime(value) === undefined)
        .map(({ ref, value }) => ({ path: ref.path, vars: { field: fieldLabel(ref.path), value } }));
    },
  },

  /** Each present field is not earlier than every present field listed before it (equal is fine). */
  notEarlierThan: {
    args: { fields: { kind: 'fields' } },
    vars: ['field', 'value', 'other', 'otherValue'],
    run(record, args) {
      const failures: CheckFailure[] = [];
      let latest: { ref: FieldRef; value: string; instant: number } | undefined;
      for (const { ref, value } of presentStrings(record, args.fields as FieldRef[])) {
        const instant = parseOffsetDateTime(value);
        if (instant === undefined) continue; // reported as a date-time that does not exist
        if (latest && instant < latest.instant) {
          failures.push({
            path: ref.path,
            vars: { field: fieldLabel(ref.path), value, other: fieldLabel(latest.ref.path), otherValue: latest.value },
          });
        } else {
          latest = { ref, value, instant };
        }
      }
      return failures;
    },
  },

  clockTime: {
    args: { fields: { kind: 'fields' } },
    vars: ['field', 'value'],
    run(record, args) {
      return presentStrings(record, args.fields as FieldRef[])
        .filter(({ value }) => parseClockTime(value) === undefined)
        .map(({ ref, value }) => ({ path: ref.path, vars: { field: fieldLabel(ref.path), value } }));
    },
  },

  /**
   * The local date and time exist in Europe/Amsterdam. `nextDayIfBefore`: a window end earlier than its
   * start falls on the day after `date`. A missing or impossible date or time is left to other checks.
   */
  amsterdamLocalTime: {
    args: { date: { kind: 'field' }, time: { kind: 'field' }, nextDayIfBefore: { kind: 'field', optional: true } },
    vars: ['field', 'value', 'date', 'dateField'],
    run(record, args) {
      const timeRef = args.time as FieldRef;
      const dateRef = args.date as FieldRef;
      const timeText = stringAt(record, timeRef);
      const dateText = stringAt(record, dateRef);
      const time = timeText === undefined ? undefined : parseClockTime(timeText);
      let date = dateText === undefined ? undefined : parseDutchDate(dateText);
      if (!time || !date || timeText === undefined) return [];
      const startText = stringAt(record, args.nextDayIfBefore as FieldRef | undefined);
      const start = startText === undefined ? undefined : parseClockTime(startText);
      if (start && time.hour * 60 + time.minute < start.hour * 60 + start.minute) date = nextDay(date);
      if (localTimeInstants(date, time).length > 0) return [];
      return [
        {
          path: timeRef.path,
          vars: { field: fieldLabel(timeRef.path), value: timeText, date: formatDutchDate(date), dateField: fieldLabel(dateRef.path) },
        },
      ];
    },
  },
};
