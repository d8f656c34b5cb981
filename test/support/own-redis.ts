/**
 * A redis-server of the suite's own, on a free loopback port, for the outage tests: it can be
 * started, stopped (gone: connections refused), frozen with SIGSTOP (connections stay open, nothing
 * answers) and thawed. Guard the suite with `describeWith([requirements.redisServer()])`, and call
 * `stop()` in `afterAll` whatever happened: it thaws first, so a frozen child still dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { createClient } from '@redis/client';

/** Ports each Jest worker takes its servers' ports from, below the kernel's ephemeral range. */
const PORTS_PER_WORKER = 200;
const FIRST_PORT = 20_000;
let nextPort = FIRST_PORT + (Number(process.env.JEST_WORKER_ID ?? 1) - 1) * PORTS_PER_WORKER;

/** Whether nothing listens on `port` of loopback right now. */
function isFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port nothing listens on, that nothing else will take: a port the kernel hands out
 * (`listen(0)`) may go to another suite's server, even another Redis, between its reservation and
 * its use, and the outage tests would then reach that one. So each Jest worker picks from ports of
 * its own, outside the ephemeral range.
 */
export async function freePort(): Promise<number> {
  const last = FIRST_PORT + Number(process.env.JEST_WORKER_ID ?? 1) * PORTS_PER_WORKER;
  while (nextPort < last) {
    const port = nextPort;
    nextPort += 1;
    if (await isFree(port)) return port;
  }
  throw new Error("no free port left in this worker's range");
}

export class OwnRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  /** A port reserved for the server, which is not started yet (so that "unreachable" can be tested first). */
  static async onFreePort(): Promise<OwnRedis> {
    return new OwnRedis(await freePort());
  }

  /** A server already answering. */
  static async started(): Promise<OwnRedis> {
    const redis = await OwnRedis.onFreePort();
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again) on its port and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.child) return;
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const probe = createClient({ url: this.url, socket: { reconnectStrategy: () => 50 } });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
    } finally {
      probe.destroy();
    }
  }

  /** SIGSTOP: sockets stay open and nothing answers, the hardest outage for a client. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Gone: the process is killed (thawed first) and its port refuses connections once this resolves. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }
}
