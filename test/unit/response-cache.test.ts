import Keyv from 'keyv';
import { ResponseCache } from '../../src/cache/response-cache';

const options = { collectionsTtlMs: 60_000, recordsTtlMs: 10_000 };

describe('ResponseCache', () => {
  it('serves an answer only to the token scope that read it', async () => {
    const cache = new ResponseCache(new Keyv(), options);
    const alice = cache.forScope('alice');
    alice.set('/content_threads/1', { id: '1' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await alice.get('/content_threads/1')).toEqual({ id: '1' });
    expect(await cache.forScope('bob').get('/content_threads/1')).toBeUndefined();
  });

  it('serves nothing of an earlier generation once a change was heard of', async () => {
    const cache = new ResponseCache(new Keyv(), options);
    const before = cache.forScope('alice');
    before.set('/content_sources?limit=150', ['s']);
    await new Promise((resolve) => setImmediate(resolve));
    await cache.invalidate();
    expect(await cache.forScope('alice').get('/content_sources?limit=150')).toBeUndefined();
  });

  it('a write through one request invalidates that request and every later one', async () => {
    const cache = new ResponseCache(new Keyv(), options);
    const request = cache.forScope('alice');
    request.set('/content_threads/1', { closed: false });
    await new Promise((resolve) => setImmediate(resolve));
    await request.invalidate();
    expect(await request.get('/content_threads/1')).toBeUndefined();
    expect(await cache.forScope('alice').get('/content_threads/1')).toBeUndefined();
  });

  it('never caches agent availability, and keeps collections longer than records', () => {
    const cache = new ResponseCache(new Keyv(), options);
    expect(cache.ttlFor('/status?source_ids%5B%5D=1')).toBe(0);
    expect(cache.ttlFor('/users?offset=0&limit=150')).toBe(60_000);
    expect(cache.ttlFor('/categories?ids=a,b')).toBe(60_000);
    expect(cache.ttlFor('/content_threads?q=source%3A1')).toBe(10_000);
    expect(cache.ttlFor('/identities/abc')).toBe(10_000);
  });

  it('a forgotten generation starts a new one instead of reviving old entries', async () => {
    const keyv = new Keyv();
    const cache = new ResponseCache(keyv, options);
    const first = await cache.generation();
    await keyv.delete('generation');
    expect(await cache.generation()).not.toBe(first);
  });
});
