import type { IncomingMessage } from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { addressReader, addressShare, clientAddress, compileTrust } from '../../src/edge/client-address';

/** What proxy-addr reads of a request: the peer and the forwarded chain. */
const request = (peer: string, forwarded?: string) =>
  ({
    socket: { remoteAddress: peer },
    connection: { remoteAddress: peer },
    headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded },
  }) as unknown as IncomingMessage;

describe('the share an address belongs to', () => {
  it('is the IPv4 address itself, however it is written', () => {
    expect(addressShare('192.0.2.7')).toBe('192.0.2.7');
    expect(addressShare('::ffff:192.0.2.7')).toBe('192.0.2.7');
  });

  it("is an IPv6 address's /64", () => {
    expect(addressShare('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressShare('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(addressShare('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
  });

  it('is the text itself when it is no address', () => {
    expect(addressShare('')).toBe('');
    expect(addressShare('unknown')).toBe('unknown');
  });
});

describe("a request's client address", () => {
  it("is the peer's when no proxy is trusted, whatever X-Forwarded-For claims", () => {
    expect(clientAddress(request('203.0.113.9', '198.51.100.1'), compileTrust(false))).toBe('203.0.113.9');
  });

  it('is the nearest untrusted address of the chain behind trusted proxies', () => {
    const trust = compileTrust(['loopback', '10.0.0.0/8']);
    expect(clientAddress(request('127.0.0.1', '198.51.100.1, 10.1.2.3'), trust)).toBe('198.51.100.1');
    // A client that prepends an address of its own choosing does not get it believed.
    expect(clientAddress(request('127.0.0.1', '1.2.3.4, 198.51.100.1, 10.1.2.3'), trust)).toBe('198.51.100.1');
    // Only the trusted peer's header counts.
    expect(clientAddress(request('203.0.113.9', '198.51.100.1'), trust)).toBe('203.0.113.9');
  });

  it('counts hops when TRUST_PROXY is a number', () => {
    expect(clientAddress(request('10.0.0.1', '198.51.100.1, 10.0.0.2'), compileTrust(1))).toBe('10.0.0.2');
    expect(clientAddress(request('10.0.0.1', '198.51.100.1, 10.0.0.2'), compileTrust(2))).toBe('198.51.100.1');
  });

  it('drops the port some proxies forward, and never believes a forwarded entry that is no address', () => {
    const all = compileTrust(true);
    expect(clientAddress(request('10.0.0.1', '198.51.100.1:51234'), all)).toBe('198.51.100.1');
    expect(clientAddress(request('10.0.0.1', '[2001:db8::7]:51234'), all)).toBe('2001:db8::7');
    for (const junk of ['not-an-address', 'x'.repeat(4000), '1.2.3.4:99999999', '[zz]:1'])
      expect(clientAddress(request('10.0.0.1', junk), all)).toBe('10.0.0.1');
  });

  it("holds nothing of the X-Forwarded-For it was read from: caches keyed by it keep the address, not the caller's header", () => {
    // A substring of 13 characters or more is a slice that keeps its whole string alive: 2,000
    // addresses read from 12 KB headers, as caches of recent addresses keep them, held ~30 MB.
    const collect = () => {
      v8.setFlagsFromString('--expose-gc');
      (vm.runInNewContext('gc') as () => void)();
    };
    const trust = compileTrust(['loopback']);
    collect();
    const before = process.memoryUsage().heapUsed;
    const kept = Array.from({ length: 2_000 }, (_, i) =>
      clientAddress(request('127.0.0.1', `${'x'.repeat(12_000)}${i}, 2001:db8:0:${i.toString(16)}::1`), trust),
    );
    collect();
    expect(kept[1]).toBe('2001:db8:0:1::1');
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(4 * 1024 * 1024);
  });

  it('is empty for a socket that has closed', () => {
    expect(clientAddress(request(undefined as unknown as string), compileTrust(true))).toBe('');
  });
});

describe('X-Forwarded-For while no proxy is trusted', () => {
  it('is told to the operator once: behind a proxy, callers without a token would share its address', () => {
    const warn = jest.fn();
    const read = addressReader(false, warn);
    expect(read(request('203.0.113.9'))).toBe('203.0.113.9');
    expect(warn).not.toHaveBeenCalled();
    expect(read(request('10.0.0.2', '198.51.100.1'))).toBe('10.0.0.2');
    expect(read(request('10.0.0.2', '198.51.100.2'))).toBe('10.0.0.2');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(
      /^a request from 10\.0\.0\.2 carries X-Forwarded-For, and TRUST_PROXY trusts no proxy/,
    );
  });

  it('is not told when a proxy is trusted', () => {
    const warn = jest.fn();
    for (const trust of [true, 1, ['loopback']]) addressReader(trust, warn)(request('127.0.0.1', '198.51.100.1'));
    expect(warn).not.toHaveBeenCalled();
  });
});
