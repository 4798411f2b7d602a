import { WatchCursor } from './watch-cursor';

/** Feeds `indexes` to the cursor; returns those it accepted. */
function feed(cursor: WatchCursor, indexes: number[]): number[] {
  return indexes.filter((index) => cursor.accept(index));
}

describe('WatchCursor', () => {
  test('from a registration point: only later indexes pass, several events per index included', () => {
    const cursor = new WatchCursor(10);
    expect(feed(cursor, [9, 10, 11, 11, 12, 12, 12, 13])).toEqual([11, 11, 12, 12, 12, 13]);
    expect(cursor.lastIndex).toBe(13);
  });

  test('anything older than the last index delivered is dropped, whatever the node sends', () => {
    const cursor = new WatchCursor(0);
    expect(feed(cursor, [5, 3, 4, 6])).toEqual([5, 6]);
  });

  test('a resume from a registration point asks from that point (nothing at it is due)', () => {
    const cursor = new WatchCursor(10);
    expect(cursor.resumeFrom()).toBe(10);
    expect(feed(cursor, [10, 11])).toEqual([11]);
  });

  test('a resume after an event asks from the index before, and skips the replays of what was delivered', () => {
    const cursor = new WatchCursor(0);
    // Index 7 carries three events (a multi); the connection broke after two of them.
    expect(feed(cursor, [5, 7, 7])).toEqual([5, 7, 7]);
    expect(cursor.resumeFrom()).toBe(6);
    // The node replays index 7 in full (and may replay older ones): only the third event is new.
    expect(feed(cursor, [7, 7, 7, 8])).toEqual([7, 8]);
    expect(cursor.lastIndex).toBe(8);
  });

  test('a resume right after a complete index loses nothing and repeats nothing', () => {
    const cursor = new WatchCursor(0);
    feed(cursor, [3, 4, 4]);
    expect(cursor.resumeFrom()).toBe(3);
    expect(feed(cursor, [4, 4, 5, 5])).toEqual([5, 5]);
  });

  test('two resumes in a row, the second before any replay arrived, still count from the first delivery', () => {
    const cursor = new WatchCursor(0);
    feed(cursor, [9, 9]);
    cursor.resumeFrom();
    expect(feed(cursor, [9])).toEqual([]);
    expect(cursor.resumeFrom()).toBe(8);
    expect(feed(cursor, [9, 9, 9])).toEqual([9]);
  });

  test('restart (after a compacted history) starts over from the new registration point', () => {
    const cursor = new WatchCursor(0);
    feed(cursor, [4, 4]);
    cursor.restart(100);
    expect(cursor.resumeFrom()).toBe(100);
    expect(feed(cursor, [50, 100, 101])).toEqual([101]);
  });
});
