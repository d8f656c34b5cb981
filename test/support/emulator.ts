/**
 * The emulator as the tests start it: a free port, no rate limit, and a tenth of the default account
 * (`TEST_SCALE`: 200 threads, 120 customers). Agents, sources, categories and the 60 most recent
 * threads, which hold the open interventions, do not depend on the scale (src/emulator/seed.ts); the
 * seed's cost does: a full one costs a test file about 0.7 s of CPU. Suites whose data needs the
 * default account ask for `scale: 1`.
 */
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator';

export const TEST_SCALE = 0.1;

/** Starts an emulator with the tests' defaults; `options` override them. */
export function startTestEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  return startEmulator({ port: 0, rateLimitPerMinute: 0, scale: TEST_SCALE, ...options });
}
