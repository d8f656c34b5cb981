/** Normalisation and watermarks: pure functions over Engage's events. */
import { normalise, stateKeys, SUBSCRIBED_EVENT_TYPES, Watermarks } from '../../src/live/events';
import { parseNotification } from '../../src/live/receiver';
import { describeWith, requirements } from '../support/requirements';
import { readSample } from './support';

describeWith([requirements.samples()])('normalise the samples Engage publishes', () => {
  it('the published content.imported sample: a new content, not a new thread (first_in_thread false)', () => {
    const sample = readSample('content.imported');
    const event = normalise(sample.events[0], sample.id);
    expect(event).toMatchObject({
      id: '5950328914bf8a22305f446a',
      type: 'content.imported',
      notificationId: sample.id,
      kinds: ['contentAdded'],
      contentChange: 'IMPORTED',
      newThreadOrigin: null,
      contentId: '5950328814bf8abf7f79e3cb',
      threadId: '541014e17aa58d8ccf000024',
      sourceId: '4f97fbea7aa58d073900344f',
      interventionId: '541014eea90ffb3f600000ac',
      userId: null,
      stale: false,
    });
  });

  it('first_in_thread makes a new thread and a new content; discussion_initiated an AGENT thread only', () => {
    const sample = readSample('content.imported');
    const first = {
      ...sample.events[0],
      resource: {
        ...sample.events[0].resource,
        metadata: { ...sample.events[0].resource.metadata, first_in_thread: true },
      },
    };
    expect(normalise(first, 'n')).toMatchObject({ kinds: ['newThread', 'contentAdded'], newThreadOrigin: 'CUSTOMER' });
    expect(normalise({ ...first, type: 'content.discussion_initiated' }, 'n')).toMatchObject({
      kinds: ['newThread'],
      newThreadOrigin: 'AGENT',
      contentChange: null,
    });
  });

  it('the published intervention.assigned sample: holder, thread, source and acting agent', () => {
    const sample = readSample('intervention.assigned');
    expect(normalise(sample.events[0], sample.id)).toMatchObject({
      kinds: ['intervention'],
      interventionChange: 'ASSIGNED',
      interventionId: '5464b5c04d61639684110000',
      interventionUserId: '52fcf5157aa58dd768000006',
      // Its metadata has no status: the type tells it (an agent holds it).
      interventionStatus: 'assigned',
      userId: '4f4f3a08a90ffb27ee000583',
      threadId: '565739986b65795289000029',
      identityId: '557f003c7765620fdc0002cc',
      contentId: null,
    });
  });
});

describe('normalise', () => {
  it('recategorization is an intervention change and a thread state change; thread events name their thread', () => {
    const base = {
      id: 'e',
      issued_at: '2026-01-01T00:00:00Z',
      resource: { type: 'intervention', id: 'i1', metadata: { thread_id: 't1', source_id: 's1' } },
    };
    expect(normalise({ ...base, type: 'intervention.recategorized' }, 'n')).toMatchObject({
      kinds: ['threadState', 'intervention'],
      threadChange: 'RECATEGORIZED',
      interventionChange: 'RECATEGORIZED',
    });
    const closed = normalise(
      { ...base, type: 'content.thread_closed', resource: { type: 'content_thread', id: 't2', metadata: {} } },
      'n',
    );
    expect(closed).toMatchObject({ kinds: ['threadState'], threadChange: 'CLOSED', threadId: 't2', contentId: null });
    expect(stateKeys(closed)).toEqual(['thread:t2']);
  });

  it("an intervention's status after the change: the metadata's, else the one its type moves it to, else unknown", () => {
    const status = (type: string, metadata: Record<string, unknown>) =>
      normalise(
        { type, id: 'e', issued_at: '2026-01-01T10:00:00Z', resource: { type: 'intervention', id: 'i', metadata } },
        'n',
      ).interventionStatus;
    expect(status('intervention.assigned', { status: 'deferred' })).toBe('deferred');
    expect(status('intervention.closed', { user_id: 'u' })).toBe('closed');
    expect(status('intervention.canceled', {})).toBe('canceled');
    expect(status('intervention.deferred', { user_id: 'u' })).toBe('deferred');
    expect(status('intervention.opened', { user_id: null })).toBe('opened');
    expect(status('intervention.reopened', { user_id: 'u' })).toBe('assigned');
    expect(status('intervention.reactivated', {})).toBe('opened');
    // A recategorization leaves the status as it was, which the event does not say.
    expect(status('intervention.recategorized', { user_id: 'u' })).toBeNull();
  });

  it('unknown types have no kind (raw feed only), never throw', () => {
    const event = normalise(
      {
        type: 'push_agent.connected',
        id: 'x',
        issued_at: '2026-01-01T00:00:00Z',
        resource: { type: 'user', id: 'u', metadata: {} },
      },
      'n',
    );
    expect(event.kinds).toEqual([]);
    expect(event.sourceId).toBeNull();
  });

  it('registration asks for every type a subscription uses', () => {
    expect(SUBSCRIBED_EVENT_TYPES).toEqual(
      expect.arrayContaining([
        'content.imported',
        'content.discussion_initiated',
        'content.replied',
        'content.thread_closed',
        'intervention.closed',
        'identity.merged',
      ]),
    );
  });
});

describe('Watermarks', () => {
  const at = (type: string, iso: string) =>
    normalise(
      { type, id: iso, issued_at: iso, resource: { type: 'intervention', id: 'i1', metadata: { thread_id: 't1' } } },
      'n',
    );

  it('an event older than one seen for the same resource is stale; equal or newer is not', () => {
    const marks = new Watermarks();
    expect(marks.observe(at('intervention.closed', '2026-01-01T10:05:00Z'))).toBe(false);
    expect(marks.observe(at('intervention.opened', '2026-01-01T10:00:00Z'))).toBe(true);
    expect(marks.observe(at('intervention.reopened', '2026-01-01T10:05:00Z'))).toBe(false);
    expect(marks.observe(at('intervention.closed', '2026-01-01T10:06:00Z'))).toBe(false);
  });

  it('an issued_at from the future is read as now, so it cannot mute the genuine events after it', () => {
    const marks = new Watermarks();
    const now = Date.parse('2026-01-01T10:00:00Z');
    expect(marks.observe(at('intervention.closed', '2099-01-01T00:00:00Z'), now)).toBe(false);
    expect(marks.observe(at('intervention.reopened', '2026-01-01T10:06:00Z'), now + 6 * 60_000)).toBe(false);
  });

  it('content events carry no state: never stale', () => {
    const marks = new Watermarks();
    const content = (iso: string) =>
      normalise(
        {
          type: 'content.replied',
          id: iso,
          issued_at: iso,
          resource: { type: 'email/message', id: 'c', metadata: { thread_id: 't1' } },
        },
        'n',
      );
    expect(marks.observe(content('2026-01-01T10:05:00Z'))).toBe(false);
    expect(marks.observe(content('2026-01-01T10:00:00Z'))).toBe(false);
  });
});

describeWith([requirements.samples()])('parseNotification of the samples Engage publishes', () => {
  it('accepts both', () => {
    expect(parseNotification(readSample('content.imported')).ok).toBe(true);
    expect(parseNotification(readSample('intervention.assigned')).ok).toBe(true);
  });
});

describe('parseNotification', () => {
  const good = {
    type: 'content.imported',
    id: 'e1',
    issued_at: '2026-11-30T10:00:00Z',
    resource: { type: 'content', id: 'c1' },
  };

  it('names the first problem of a body that is not a notification', () => {
    expect(parseNotification('nope')).toEqual({ ok: false, reason: expect.stringMatching(/^body: /) });
    expect(parseNotification({ id: 'n' })).toEqual({ ok: false, reason: expect.stringMatching(/^events: /) });
  });

  it('sets a malformed event aside, with its path and no value, and keeps the others', () => {
    const parsed = parseNotification({
      id: 'n',
      events: [{ type: 'x' }, good, { ...good, id: 'e2', issued_at: '2026-12-03 17:30:00 UTC' }, null],
    });
    expect(parsed).toEqual({
      ok: true,
      value: { id: 'n', events: [{ ...good, resource: { ...good.resource, metadata: {} } }] },
      malformed: [
        { index: 0, reason: expect.stringMatching(/^events\.0\.id: /) },
        { index: 2, reason: expect.stringMatching(/^events\.2\.issued_at: /) },
        { index: 3, reason: expect.stringMatching(/^events\.3: /) },
      ],
    });
    expect(JSON.stringify(parsed)).not.toContain('17:30');
  });

  it('reads integer ids as strings, and refuses one past 2^53, whose digits JSON.parse has lost', () => {
    const notification = (eventId: string) =>
      JSON.parse(
        `{"id":1,"events":[{"type":"content.imported","id":${eventId},"issued_at":"2026-11-30T10:00:00Z","resource":{"type":"content","id":"c1"}}]}`,
      ) as unknown;
    const parsed = parseNotification(notification('9007199254740991'));
    expect(parsed.ok && parsed.value.events[0].id).toBe('9007199254740991');
    // 9007199254740993 reads as 9007199254740992: it would be taken for that event, and dropped.
    expect(parseNotification(notification('9007199254740993'))).toMatchObject({
      ok: true,
      value: { events: [] },
      malformed: [{ index: 0, reason: expect.stringMatching(/^events\.0\.id: /) }],
    });
  });
});
