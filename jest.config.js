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
  // The suites mostly wait on loopback servers, child processes, Chromium and timers: two workers
  // kept two cores about half busy. The whole suite on a 2-core machine loaded by other work: 262 s
  // with three, 333 s with two (~19 s of which a slow suite has since cut).
  maxWorkers: 3,
  // A worker that ran the live suites ends with a heap of 600-900 MB, and the process needs more
  // than jest's default 0.5 s to tear it down on a busy machine (it holds no handle by then):
  // without room, jest force-kills it and reports a leak that is not there.
  workerGracefulExitTimeout: 5000,
  // Probes Redis and redis-server once; suites that need them (or the Engage reference files) skip
  // with a reason when they are missing, except where test/support/requirements.ts says they are required.
  // Starts the Chromium and builds the inbox app that the browser suites share, when the run has any.
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
