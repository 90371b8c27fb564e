// Tests run as native ES modules (the same module system as production), transformed by swc.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
};

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/src/**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  // Every response a test receives from the gateway is checked against its OpenAPI description.
  setupFilesAfterEnv: ['<rootDir>/test/support/contract-setup.ts'],
  // Hooks start whole gateways (and child processes); a busy 2-core machine needs the room.
  testTimeout: 60000,
};
