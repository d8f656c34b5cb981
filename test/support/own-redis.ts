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

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
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
