/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(ts|js|mjs)$': ['@swc/jest'] },
  // openapi-backend's $ref parser is published as ES modules only: compile it (and its own
  // js-yaml) to CommonJS like our sources, instead of shimming it; jose (JWT verification) too.
  transformIgnorePatterns: ['/node_modules/(?!(@apidevtools/json-schema-ref-parser|js-yaml|jose)/)'],
  // Integration tests start real servers on loopback; give them room on a 2-core machine.
  testTimeout: 30000,
  // Probes Redis and redis-server once; suites that need them (or the Engage reference files) skip
  // with a reason when they are missing, except where test/support/requirements.ts says they are required.
  globalSetup: '<rootDir>/test/support/global-setup.ts',
};
