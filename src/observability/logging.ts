import type { Logger } from 'pino';

/**
 * Keys under which patient data could reach a log line if someone logged a record, a resource, a
 * request or a database error whole. Nothing logs them today; this keeps a slip from leaking.
 */
const PATIENT_KEYS = ['name', 'birthDate', 'bsn', 'identifier', 'telecom', 'address', 'text', 'note', 'body', 'query', 'patient', 'resource', 'record', 'detail', 'where', 'parameters'];
const REDACT_PATHS = [...PATIENT_KEYS, ...PATIENT_KEYS.map((k) => `*.${k}`), 'req.headers.authorization', 'headers.authorization'];

const QUOTED = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\((?:[^()]|\([^()]*\))*\)=\((?:[^()]|\([^()]*\))*\)/g;
const NUMBERS = /\d{6,}/g;
const DATES = /\d{4}-\d{2}-\d{2}(?:T[\d:.+\-Z]*)?/g;

/**
 * An error message without the values in it: database and parser messages quote the input they
 * choked on (`invalid input syntax for type date: "1956-02-30"`, `Key (bsn)=(…)`), which may be a
 * patient's name, BSN or birth date.
 */
export function scrubMessage(message: string): string {
  return message.replace(QUOTED, '[redacted]').replace(DATES, '[date]').replace(NUMBERS, '[number]');
}

export interface SafeError {
  type: string;
  /** SQLSTATE of a database error. */
  code?: string;
  message: string;
  /** Where a database error happened: names from the schema, never values. */
  table?: string;
  column?: string;
  constraint?: string;
  routine?: string;
  stack?: string;
}

const schemaName = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * An error as a log line may show it: its kind, call stack and message, scrubbed. A database error's
 * message, detail, hint and where quote the rows and values it choked on, so of those only the SQLSTATE
 * and the names of the table, column and constraint are kept. Idempotent: what it returns passes again.
 */
export function safeError(err: unknown): SafeError {
  if (typeof err !== 'object' || err === null) return { type: typeof err, message: scrubMessage(String(err)) };
  const e = err as Record<string, unknown>;
  const frames =
    typeof e.stack === 'string'
      ? e.stack
          .split('\n')
          .filter((line) => /^\s+at /.test(line))
          .join('\n')
      : '';
  const fromDatabase = typeof e.severity === 'string' && typeof e.code === 'string';
  return {
    type: typeof e.type === 'string' ? e.type : typeof e.name === 'string' ? e.name : 'Error',
    code: typeof e.code === 'string' ? e.code : undefined,
    message: fromDatabase ? 'database error (message withheld: it may quote patient data)' : scrubMessage(typeof e.message === 'string' ? e.message : ''),
    table: schemaName(e.table),
    column: schemaName(e.column),
    constraint: schemaName(e.constraint),
    routine: schemaName(e.routine),
    stack: frames || undefined,
  };
}

/** The gateway's logger, whoever made it: patient-data keys censored, errors through `safeError`. */
export function redactingLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { err: safeError } });
}
