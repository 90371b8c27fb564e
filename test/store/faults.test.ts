// Which database errors are faults of the moment (503), and the retry policy for transactions: pure functions.
import { classifyDatabaseError, retryDelayMs, TRANSACTION_RETRY } from '../../src/store/faults.ts';
import { databaseFault, HttpError, isAbsent, notFound, gone, badRequest } from '../../src/fhir/outcomes.ts';
import { toHttpError } from '../../src/http/errors.ts';

const pgError = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('classifyDatabaseError', () => {
  it.each([
    ['40001', 'conflict'],
    ['40P01', 'conflict'],
    ['57P01', 'unavailable'], // administrator shutdown (a restart)
    ['57P02', 'unavailable'],
    ['57P03', 'unavailable'], // the database system is starting up
    ['08006', 'unavailable'],
    ['08001', 'unavailable'],
    ['53300', 'unavailable'], // too many connections
    ['25006', 'unavailable'], // a standby after a failover refuses the write
    ['57014', 'timeout'], // statement_timeout
    ['55P03', 'timeout'], // lock_timeout
  ])('SQLSTATE %s is %s', (code, fault) => {
    expect(classifyDatabaseError(pgError(code))).toBe(fault);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN'])('socket error %s is unavailable', (code) => {
    expect(classifyDatabaseError(pgError(code))).toBe('unavailable');
  });

  it.each([
    ['Connection terminated unexpectedly', 'unavailable'],
    ['Connection terminated due to connection timeout', 'unavailable'],
    ['timeout exceeded when trying to connect', 'unavailable'],
    ['Client has encountered a connection error and is not queryable', 'unavailable'],
    ['Query read timeout', 'timeout'],
  ])("node-postgres' '%s' is %s", (message, fault) => {
    expect(classifyDatabaseError(new Error(message))).toBe(fault);
  });

  it('looks through cause and AggregateError', () => {
    expect(classifyDatabaseError(new Error('wrapped', { cause: pgError('57P01') }))).toBe('unavailable');
    expect(classifyDatabaseError(new AggregateError([new Error('a'), pgError('ECONNREFUSED')], 'connect'))).toBe('unavailable');
  });

  it.each([
    ['23505', 'unique violation'],
    ['22P02', 'invalid text representation'],
    ['42501', 'insufficient privilege'],
    ['42P01', 'undefined table'],
    ['XX000', 'internal error'],
  ])('SQLSTATE %s (%s) is not a fault of the moment', (code) => {
    expect(classifyDatabaseError(pgError(code))).toBeUndefined();
  });

  it('nothing else is one either', () => {
    expect(classifyDatabaseError(new Error('boom'))).toBeUndefined();
    expect(classifyDatabaseError(notFound('Task/x is not known'))).toBeUndefined();
    expect(classifyDatabaseError(undefined)).toBeUndefined();
    expect(classifyDatabaseError('57P01')).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  const conflict = pgError('40001');
  it('retries a conflict until the attempts are used up, each wait within its exponential bound', () => {
    for (const random of [0, 0.5, 0.999]) {
      const waits: (number | undefined)[] = [];
      for (let attempt = 1; attempt <= TRANSACTION_RETRY.attempts; attempt++) waits.push(retryDelayMs(conflict, attempt, TRANSACTION_RETRY, () => random));
      expect(waits.at(-1)).toBeUndefined();
      const retries = waits.slice(0, -1);
      expect(retries).toHaveLength(TRANSACTION_RETRY.attempts - 1);
      retries.forEach((w, i) => {
        const bound = Math.min(TRANSACTION_RETRY.maxDelayMs, TRANSACTION_RETRY.baseDelayMs * 2 ** i);
        expect(w).toBeGreaterThanOrEqual(bound / 2);
        expect(w).toBeLessThanOrEqual(bound);
      });
    }
  });

  it('jitters: different random draws give different waits', () => {
    expect(retryDelayMs(pgError('40P01'), 1, { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 }, () => 0)).toBe(50);
    expect(retryDelayMs(pgError('40P01'), 1, { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 }, () => 0.99)).toBe(100);
    expect(retryDelayMs(pgError('40P01'), 5, { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 }, () => 0.99)).toBe(995);
  });

  it('never retries what is not a conflict: an outage, a timeout, a client error', () => {
    for (const err of [pgError('57P01'), pgError('ECONNREFUSED'), pgError('57014'), pgError('23505'), notFound('x'), new Error('x')]) {
      expect(retryDelayMs(err, 1)).toBeUndefined();
    }
  });
});

describe('answers', () => {
  it.each([
    ['40001', pgError('40001'), 'transient'],
    ['57P01', pgError('57P01'), 'transient'],
    ['ECONNREFUSED', pgError('ECONNREFUSED'), 'transient'],
    ['a lost connection', new Error('Connection terminated unexpectedly'), 'transient'],
    ['57014', pgError('57014'), 'timeout'],
  ])('a database fault (%s) is 503 with Retry-After and an OperationOutcome', (_what, err, code) => {
    const e = toHttpError(err);
    expect(e.status).toBe(503);
    expect(e.headers['Retry-After']).toMatch(/^\d+$/);
    expect(e.outcome.issue?.[0]?.code).toBe(code);
    expect(databaseFault(err)?.status).toBe(503);
  });

  it('anything else unknown stays a plain 500', () => {
    expect(toHttpError(new Error('boom')).status).toBe(500);
    expect(databaseFault(new Error('boom'))).toBeUndefined();
  });

  it('only not-found and gone are absent', () => {
    expect(isAbsent(notFound('x'))).toBe(true);
    expect(isAbsent(gone('x'))).toBe(true);
    expect(isAbsent(badRequest('x'))).toBe(false);
    expect(isAbsent(new HttpError(503, { resourceType: 'OperationOutcome', issue: [] }))).toBe(false);
    expect(isAbsent(pgError('57P01'))).toBe(false);
  });
});
