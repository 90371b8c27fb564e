// Tests run as native ES modules (the same module system as production), transformed by swc.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
};

// The unit tier: pure cores tested as functions, with no database, gateway, network or child process, and not the
// FHIR definitions either; all of it runs in seconds (`npm run test:unit`). A test file of that kind is named here.
// (The mapping's property test and its load test are pure too, but take half a minute: they stay with the rest.)
const UNIT_TESTS = [
  'test/unit/**/*.test.ts',
  'test/audit/canonical-json.test.ts',
  'test/auth/scopes.test.ts',
  'test/native/validation.test.ts',
  'test/store/faults.test.ts',
  'test/subscriptions/endpoint-policy.test.ts',
  'test/subscriptions/retry.test.ts',
];

const common = { testEnvironment: 'node', extensionsToTreatAsEsm: ['.ts'], transform };

/** `npm run test:unit` runs this project alone (jest.unit.config.js), so that paths given after it still filter. */
export const unit = { ...common, displayName: 'unit', testMatch: UNIT_TESTS.map((p) => `<rootDir>/${p}`) };

export default {
  projects: [
    unit,
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/src/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...UNIT_TESTS.filter((p) => !p.includes('*')).map((p) => `<rootDir>/${p}$`), '<rootDir>/test/unit/'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      // Every response a test receives from the gateway is checked against its OpenAPI description, and every resource
      // the base validation's shortcut accepts is walked as well (validation-setup.ts).
      setupFilesAfterEnv: ['<rootDir>/test/support/contract-setup.ts', '<rootDir>/test/support/validation-setup.ts'],
    },
  ],
  // Hooks start whole gateways (and child processes); a busy 2-core machine needs the room.
  testTimeout: 60000,
  // Two workers, never "in band": with one worker jest runs every file inside its own process, whose heap grows
  // with each file's ES modules until it runs out (seen after ~70 files at 4 GB). A worker is replaced once it
  // holds more than this after a file, so memory stays bounded however many files there are.
  maxWorkers: 2,
  workerIdleMemoryLimit: '1500MB',
};
