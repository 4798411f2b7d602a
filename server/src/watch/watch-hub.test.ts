import { WatchHub, WatchSink } from './watch-hub';

describe('WatchHub.watching (whether a write\'s answer waits for its events)', () => {
  const sink = (): WatchSink => ({ pushEvent: () => undefined, close: () => undefined });

  test('tells lock watches from namespace watches, per connection, and forgets unregistered ones', () => {
    const hub = new WatchHub(0);
    const [a, b] = [sink(), sink()];
    expect(hub.watching(a, 'namespace')).toBe(false);
    const { watchId } = hub.register(a, '/app', 'recursive');
    expect(hub.watching(a, 'namespace')).toBe(true);
    expect(hub.watching(a, 'locks')).toBe(false);
    expect(hub.watching(b, 'namespace')).toBe(false);
    hub.register(b, 'orders', 'lock');
    expect(hub.watching(b, 'locks')).toBe(true);
    expect(hub.watching(b, 'namespace')).toBe(false);
    hub.unregister(a, watchId);
    expect(hub.watching(a, 'namespace')).toBe(false);
  });
});
