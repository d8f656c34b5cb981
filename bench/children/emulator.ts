/**
 * Child process: the Engage emulator on its own event loop (Engage is a remote service: its work
 * must not run on the server-under-test's event loop). Answers IPC requests for its request log.
 */
import { startEmulator } from '../../src/emulator';
import { runChild } from '../lib/processes';

export interface EmulatorChildOptions {
  seed: number;
  scale: number;
  latencyMs: number;
  jitterMs: number;
}

export interface EmulatorChildReady {
  url: string;
  adminToken: string;
  adminId: string;
}

runChild<EmulatorChildOptions, EmulatorChildReady>(async (options) => {
  const emulator = await startEmulator({ port: 0, rateLimitPerMinute: 0, ...options });
  const admin = emulator.agents.find((agent) => agent.role === 'admin') ?? emulator.agents[0];
  return {
    ready: { url: emulator.url, adminToken: admin.token, adminId: admin.id },
    handlers: {
      /** Requests logged since the last reset, and how many did not answer 200. */
      log: () => {
        const entries = emulator.requestLog.entries();
        return { count: entries.length, failed: entries.filter((entry) => entry.status !== 200).length };
      },
      'log-reset': () => emulator.requestLog.reset(),
      cpu: () => process.cpuUsage(),
    },
    close: () => emulator.close(),
  };
});
