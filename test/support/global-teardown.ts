/** Runs once after every suite: stops what `global-setup.ts` started for the run. */
import { stopSharedBrowser } from './browser-server';

export default async function globalTeardown(): Promise<void> {
  await stopSharedBrowser();
}
