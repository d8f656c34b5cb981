/**
 * ALLOWED_HOSTS's matching (src/edge/hosts.ts): listed names, `.domain` suffixes, addresses and
 * localhost pass whatever the port and case; any other name is refused; without a list, all pass.
 */
import { createHostPolicy } from '../../src/edge/hosts';

describe('createHostPolicy', () => {
  it('allows the listed names, with or without a port, in any case', () => {
    const { allows } = createHostPolicy(['gw.example']);
    // A trailing dot is the same DNS name, as browsers send it when typed so.
    for (const host of ['gw.example', 'gw.example:4000', 'GW.Example:443', 'gw.example.', 'GW.EXAMPLE.:443'])
      expect(allows(host)).toBe(true);
    for (const host of ['evil.example', 'evil.example:4000', 'sub.gw.example', 'gw.example.evil', 'xgw.example'])
      expect(allows(host)).toBe(false);
  });

  it('allows a .domain entry and every name under it, not a name that only ends the same way', () => {
    const { allows } = createHostPolicy(['.corp.example']);
    for (const host of ['corp.example', 'gw.corp.example:4000', 'a.b.corp.example']) expect(allows(host)).toBe(true);
    for (const host of [
      'evilcorp.example',
      'corp.example.evil',
      'example',
      'evil.example/x.corp.example',
      'gw.corp.example..',
    ])
      expect(allows(host)).toBe(false);
  });

  it('always allows IP addresses and localhost: no name to rebind', () => {
    const { allows } = createHostPolicy(['gw.example']);
    for (const host of [
      '127.0.0.1:4000',
      '10.0.0.7',
      '[::1]:4000',
      '[fd00::7]',
      '[FE80::1%25eth0]:4000',
      '[::ffff:10.0.0.1]',
      'localhost:4000',
      'app.localhost',
    ])
      expect(allows(host)).toBe(true);
    // Not an address: a name that only looks like one, an unclosed bracket.
    for (const host of ['127.0.0.1.evil.example', '[::1', '[evil.example]', '[::1].evil.example', '[::1]:4000x'])
      expect(allows(host)).toBe(false);
  });

  it("refuses what a development server lets through: a Host starting 'file:' or '<name>-extension:'", () => {
    const { allows } = createHostPolicy(['gw.example']);
    for (const host of ['file:', 'file://gw', 'chrome-extension:abc', 'moz-extension:x.example'])
      expect(allows(host)).toBe(false);
  });

  it('allows a request without Host (HTTP/1.0): browsers always send one', () => {
    expect(createHostPolicy(['gw.example']).allows(undefined)).toBe(true);
  });

  it('allows every Host without a list', () => {
    for (const list of [undefined, []]) {
      const { allows } = createHostPolicy(list);
      expect(allows('evil.example:4000')).toBe(true);
    }
  });
});
