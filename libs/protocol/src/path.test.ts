import { ErrorCode } from './errors';
import { PATH_BYTES_MAX, PATH_DEPTH_MAX, SEGMENT_BYTES_MAX, SEQUENCE_MAX } from './limits';
import {
  baseName,
  depthOf,
  isAncestor,
  joinPath,
  parentOf,
  parseSequence,
  sequentialName,
  validatePath,
  validateSequentialPath,
} from './path';
import { rejection } from './testing/rejection';

describe('validatePath', () => {
  test.each([
    '/',
    '/a',
    '/a/b/c',
    '/with space',
    '/.hidden',
    '/..dots..',
    '/a.b',
    '/ünïcödé/名前',
    '/emoji-🙂',
    `/${'x'.repeat(SEGMENT_BYTES_MAX)}`,
    '/a'.repeat(PATH_DEPTH_MAX),
    `/${'a'.repeat(SEGMENT_BYTES_MAX)}`.repeat(4).slice(0, PATH_BYTES_MAX - 1) + 'b',
  ])('accepts %j', (path) => {
    expect(() => validatePath(path)).not.toThrow();
  });

  test.each([
    ['', 'is empty'],
    ['a/b', "must start with '/'"],
    ['/a/', "must not end with '/'"],
    ['//', "must not end with '/'"],
    ['//a', 'segment 1 is empty'],
    ['/a//b', 'segment 2 is empty'],
    ['/a/.', "segment 2 is '.'"],
    ['/../etc', "segment 1 is '..'"],
    ['/a\u0000b', 'contains a control character U+0000 at offset 2'],
    ['/a\nb', 'contains a control character U+000A at offset 2'],
    ['/a\u007f', 'contains a control character U+007F at offset 2'],
    ['/a\u009f', 'contains a control character U+009F at offset 2'],
    ['/\ud800x', 'contains an unpaired surrogate U+D800 at offset 1'],
    ['/x\udc00', 'contains an unpaired surrogate U+DC00 at offset 2'],
    ['/a'.repeat(PATH_DEPTH_MAX + 1), `has depth ${PATH_DEPTH_MAX + 1}, over the limit of ${PATH_DEPTH_MAX}`],
    [`/${'x'.repeat(SEGMENT_BYTES_MAX + 1)}`, `segment 1 is ${SEGMENT_BYTES_MAX + 1} bytes, over the limit of ${SEGMENT_BYTES_MAX}`],
    // 128 three-byte characters: 384 bytes in 128 UTF-16 units.
    [`/${'名'.repeat(128)}`, `segment 1 is 384 bytes, over the limit of ${SEGMENT_BYTES_MAX}`],
    [`/${'a/'.repeat(PATH_BYTES_MAX / 2)}b`, `is ${PATH_BYTES_MAX + 2} bytes, over the limit of ${PATH_BYTES_MAX}`],
    [`/${'a'.repeat(5 * PATH_BYTES_MAX)}`, `is at least ${5 * PATH_BYTES_MAX + 1} bytes, over the limit of ${PATH_BYTES_MAX}`],
    [`/${'ab/'.repeat(200)}${'é'.repeat(230)}`, `is 1061 bytes, over the limit of ${PATH_BYTES_MAX}`],
  ])('rejects %j: %s', (path, reason) => {
    const error = rejection(() => validatePath(path));
    expect(error.code).toBe(ErrorCode.INVALID_PATH);
    expect(error.details.reason).toBe(reason);
  });

  test('rejects a non-string without crashing', () => {
    expect(rejection(() => validatePath(42 as unknown as string)).code).toBe(ErrorCode.INVALID_PATH);
  });

  test('a hostile multi-megabyte path is rejected, and the error quotes only its start', () => {
    const error = rejection(() => validatePath(`/${'x'.repeat(8_000_000)}`));
    expect(error.code).toBe(ErrorCode.INVALID_PATH);
    expect(JSON.stringify(error.details).length).toBeLessThan(400);
  });
});

describe('validateSequentialPath', () => {
  test('accepts a prefix ending with a slash, as ZooKeeper does', () => {
    expect(() => validateSequentialPath('/queue/')).not.toThrow();
    expect(() => validateSequentialPath('/locks/lock-')).not.toThrow();
    expect(() => validateSequentialPath('/')).not.toThrow();
  });

  test('counts the 10-digit suffix against the limits', () => {
    const prefix = `/${'x'.repeat(SEGMENT_BYTES_MAX - 9)}`;
    const error = rejection(() => validateSequentialPath(prefix));
    expect(error.code).toBe(ErrorCode.INVALID_PATH);
    expect(error.details.reason).toContain('counting the 10-digit sequence suffix');
    expect(() => validateSequentialPath(`/${'x'.repeat(SEGMENT_BYTES_MAX - 10)}`)).not.toThrow();
  });

  test('still rejects broken prefixes', () => {
    expect(rejection(() => validateSequentialPath('/a//')).code).toBe(ErrorCode.INVALID_PATH);
    expect(rejection(() => validateSequentialPath('relative-')).code).toBe(ErrorCode.INVALID_PATH);
  });
});

describe('path helpers', () => {
  test.each([
    ['/', null, ''],
    ['/a', '/', 'a'],
    ['/a/b', '/a', 'b'],
    ['/a/b/c', '/a/b', 'c'],
  ])('parentOf(%j) = %j, baseName = %j', (path, parent, base) => {
    expect(parentOf(path)).toBe(parent);
    expect(baseName(path)).toBe(base);
  });

  test('depthOf counts segments', () => {
    expect(depthOf('/')).toBe(0);
    expect(depthOf('/a')).toBe(1);
    expect(depthOf('/a/b/c')).toBe(3);
  });

  test('joinPath joins and validates', () => {
    expect(joinPath('/', 'a')).toBe('/a');
    expect(joinPath('/a', 'b')).toBe('/a/b');
    for (const name of ['', '.', '..', 'b/c', 'x\u0000']) {
      expect(rejection(() => joinPath('/a', name)).code).toBe(ErrorCode.INVALID_PATH);
    }
    expect(rejection(() => joinPath('/a/', 'b')).code).toBe(ErrorCode.INVALID_PATH);
    expect(rejection(() => joinPath('/a'.repeat(PATH_DEPTH_MAX), 'b')).code).toBe(ErrorCode.INVALID_PATH);
  });

  test.each([
    ['/', '/a', true],
    ['/', '/a/b', true],
    ['/a', '/a/b', true],
    ['/a', '/a/b/c', true],
    ['/', '/', false],
    ['/a', '/a', false],
    ['/a', '/ab', false],
    ['/a/b', '/a', false],
    ['/a/b', '/a/c', false],
  ])('isAncestor(%j, %j) = %s', (ancestor, path, expected) => {
    expect(isAncestor(ancestor, path)).toBe(expected);
  });
});

describe('sequential names', () => {
  test('format the counter on 10 zero-padded digits, as ZooKeeper does', () => {
    expect(sequentialName('lock-', 42)).toBe('lock-0000000042');
    expect(sequentialName('/q/', 0)).toBe('/q/0000000000');
    expect(sequentialName('', SEQUENCE_MAX)).toBe('9999999999');
  });

  test.each([-1, 1.5, SEQUENCE_MAX + 1, Number.NaN])('reject counter %s', (counter) => {
    expect(rejection(() => sequentialName('x', counter)).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  test('parseSequence reads the last 10 digits of a name or a path', () => {
    expect(parseSequence('lock-0000000042')).toBe(42);
    expect(parseSequence('/locks/lock-0000000042')).toBe(42);
    expect(parseSequence('x10000000007')).toBe(7); // a prefix ending with a digit
    expect(parseSequence('9999999999')).toBe(SEQUENCE_MAX);
    expect(parseSequence('lock-42')).toBeNull();
    expect(parseSequence('lock-00000000x2')).toBeNull();
    expect(parseSequence('')).toBeNull();
  });

  test('parseSequence inverts sequentialName', () => {
    for (const counter of [0, 1, 99, 123456789, SEQUENCE_MAX]) {
      expect(parseSequence(sequentialName('n-', counter))).toBe(counter);
    }
  });
});
