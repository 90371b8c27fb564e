import { covers, grantScopes, hasScope, normaliseScope, requireScope, type Interaction } from '../../src/auth/scopes.ts';
import { HttpError } from '../../src/fhir/outcomes.ts';

const ctx = (...scopes: string[]) => ({ scopes });

test.each([
  ['system/Task.cruds', 'system/Task.cruds'],
  ['system/Task.rs', 'system/Task.rs'],
  ['system/Task.read', 'system/Task.rs'],
  ['system/Task.write', 'system/Task.cud'],
  ['system/Task.*', 'system/Task.cruds'],
  ['system/*.read', 'system/*.rs'],
  ['system/*.*', 'system/*.cruds'],
  ['system/Patient.s', 'system/Patient.s'],
])('normalises %s to %s', (scope, normal) => {
  expect(normaliseScope(scope)).toBe(normal);
});

test.each(['patient/Task.rs', 'user/Task.read', 'system/Task.rc', 'system/Task.rrs', 'system/Task.', 'system/task.rs', 'system/Task.rs?status=ready', 'launch', 'system/Task.x', 'system/__proto__.read', 'system/Task.constructor'])(
  'refuses %s',
  (scope) => {
    expect(normaliseScope(scope)).toBeUndefined();
  },
);

const table: [string[], string, Interaction, boolean][] = [
  [['system/*.cruds'], 'Task', 'c', true],
  [['system/*.cruds'], 'AuditEvent', 'd', true],
  [['system/*.rs'], 'AuditEvent', 'r', true],
  [['system/*.rs'], 'AuditEvent', 's', true],
  [['system/*.rs'], 'Task', 'c', false],
  [['system/*.rs'], 'Task', 'u', false],
  [['system/Task.read'], 'Task', 's', true],
  [['system/Task.read'], 'Task', 'u', false],
  [['system/Task.write'], 'Task', 'u', true],
  [['system/Task.write'], 'Task', 'r', false],
  [['system/Task.cruds'], 'Patient', 'r', false],
  [['system/Task.c', 'system/Task.r'], 'Task', 'r', true],
  [['patient/*.cruds'], 'Task', 'r', false],
  [[], 'Task', 'r', false],
];
test.each(table)('scopes %j on %s.%s → %p', (scopes, type, interaction, allowed) => {
  expect(hasScope(ctx(...scopes), type, interaction)).toBe(allowed);
  if (allowed) expect(() => requireScope(ctx(...scopes), type, interaction)).not.toThrow();
  else expect(() => requireScope(ctx(...scopes), type, interaction)).toThrow(HttpError);
});

test('requireScope is a 403 OperationOutcome naming what is missing', () => {
  try {
    requireScope(ctx('system/*.rs'), 'Task', 'u');
    throw new Error('should have thrown');
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(403);
    expect((err as HttpError).outcome.issue?.[0]).toMatchObject({ code: 'forbidden' });
    expect((err as HttpError).message).toMatch(/system\/Task\.u/);
  }
});

describe('covers', () => {
  test('wildcards cover types, per-type scopes never cover a wildcard', () => {
    expect(covers(['system/*.cruds'], 'system/Task.rs')).toBe(true);
    expect(covers(['system/Task.cruds', 'system/Patient.cruds'], 'system/*.r')).toBe(false);
    expect(covers(['system/*.rs'], 'system/*.r')).toBe(true);
  });
  test('permissions may come from several scopes', () => {
    expect(covers(['system/Task.rs', 'system/*.c'], 'system/Task.crs')).toBe(true);
  });
});

describe('grantScopes', () => {
  test('nothing asked grants everything registered', () => {
    expect(grantScopes(['system/*.rs'], undefined)).toEqual({ ok: true, scopes: ['system/*.rs'] });
    expect(grantScopes(['system/*.rs'], '  ')).toEqual({ ok: true, scopes: ['system/*.rs'] });
  });
  test('asked and covered is granted as asked, normalised and de-duplicated', () => {
    expect(grantScopes(['system/*.cruds'], 'system/Task.read system/Task.rs system/Patient.c')).toEqual({ ok: true, scopes: ['system/Task.rs', 'system/Patient.c'] });
  });
  test('asked beyond the registration is refused', () => {
    expect(grantScopes(['system/*.rs'], 'system/Task.write')).toMatchObject({ ok: false });
  });
});
