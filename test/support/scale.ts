/**
 * The account the tests seed: a tenth of the default (200 threads, 120 customers). Agents, sources,
 * categories and the 60 most recent threads, which hold the open interventions, do not depend on the
 * scale (src/emulator/seed.ts); the seed's cost does: a full one costs a test file about 0.7 s of CPU.
 * Suites whose data needs the default account ask for `scale: 1`.
 */
export const TEST_SCALE = 0.1;
