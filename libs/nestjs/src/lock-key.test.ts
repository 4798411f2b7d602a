/**
 * Lock keys (lock-key.ts): templates by index, by parameter name and property path, key functions,
 * literal braces; parameter names read from method sources of every shape; the errors, at decoration
 * time for a template that cannot work, at call time for a value that is not a key.
 */
import { ErrorCode, HikariError } from '@hikarikeeper/client';
import { compileKey, parameterNames } from './lock-key';

const where = 'Orders.place';

function fail(fn: () => unknown): HikariError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HikariError) return error;
    throw error;
  }
  throw new Error('expected a HikariError');
}

class Shapes {
  async place(orderId: string, dto: { id: number; customer: { id: string } }, ...rest: unknown[]) {
    return [orderId, dto, rest];
  }
  plain(a = 'x, y', /* a comment (with parens) */ b = { c: [1, 2] }, c = (d: number) => d * 2) {
    return [a, b, c];
  }
  destructured({ id }: { id: string }, [first]: string[], named: string) {
    return [id, first, named];
  }
  *generator(x: number) {
    yield x;
  }
  ['computed' + 'Name'](first: string, second: string) {
    return first + second;
  }
  none() {
    return 1;
  }
}

describe('parameterNames', () => {
  const proto = Shapes.prototype as unknown as Record<string, Function>;

  test('reads the names of methods, with defaults, comments, rest parameters and destructuring', () => {
    expect(parameterNames(proto.place!)).toEqual(['orderId', 'dto', 'rest']);
    expect(parameterNames(proto.plain!)).toEqual(['a', 'b', 'c']);
    expect(parameterNames(proto.destructured!)).toEqual([null, null, 'named']);
    expect(parameterNames(proto.generator!)).toEqual(['x']);
    expect(parameterNames(proto.computedName!)).toEqual(['first', 'second']);
    expect(parameterNames(proto.none!)).toEqual([]);
  });

  test('reads functions and arrows', () => {
    expect(parameterNames(function named(a: number, b: number) { return a + b; })).toEqual(['a', 'b']);
    expect(parameterNames(async (x: number, y: number) => x + y)).toEqual(['x', 'y']);
    expect(parameterNames(((x: number) => x) as Function)).toEqual(['x']);
  });

  test('built-in and bound functions have no source to read', () => {
    expect(parameterNames(Math.max)).toBeNull();
    expect(parameterNames(Shapes.prototype.place.bind(null))).toBeNull();
  });
});

describe('compileKey', () => {
  const place = Shapes.prototype.place;

  test('templates by index, by parameter name, with property paths and literal braces', () => {
    expect(compileKey('orders:{0}', place, where)(['o-1'])).toBe('orders:o-1');
    expect(compileKey('orders:{orderId}', place, where)(['o-1'])).toBe('orders:o-1');
    expect(compileKey('orders:{dto.id}', place, where)(['o-1', { id: 42 }])).toBe('orders:42');
    expect(compileKey('c:{dto.customer.id}/{1.id}', place, where)(['o-1', { id: 7, customer: { id: 'c9' } }])).toBe('c:c9/7');
    expect(compileKey('{{literal}}:{0}', place, where)(['x'])).toBe('{literal}:x');
    expect(compileKey('fixed', place, where)([])).toBe('fixed');
    expect(compileKey('n:{0}:{1}', place, where)([3n, true])).toBe('n:3:true');
  });

  test('a key function gets the arguments', () => {
    const key = compileKey((orderId: string, dto: { id: number }) => `orders:${orderId}:${dto.id}`, place, where);
    expect(key(['o-1', { id: 2 }])).toBe('orders:o-1:2');
    const bad = fail(() => compileKey(() => '' as string, place, where)([]));
    expect(bad.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(bad.message).toContain('Orders.place');
  });

  test('a placeholder that is not a string or a number fails the call with INVALID_ARGUMENT', () => {
    const key = compileKey('orders:{dto.id}', place, where);
    for (const args of [['o'], ['o', {}], ['o', null], ['o', { id: { nested: 1 } }], ['o', { id: [1] }]]) {
      const error = fail(() => key(args));
      expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(error.message).toContain('{dto.id}');
    }
  });

  test('malformed templates and unknown names fail at once, naming the method', () => {
    expect(() => compileKey('orders:{customerId}', place, where)).toThrow(/Orders.place.*'customerId'.*its parameters: orderId, dto, rest/);
    expect(() => compileKey('orders:{0', place, where)).toThrow(/never closed/);
    expect(() => compileKey('orders:0}', place, where)).toThrow(/closes nothing/);
    expect(() => compileKey('orders:{a b}', place, where)).toThrow(/placeholder/);
    expect(() => compileKey('', place, where)).toThrow(/non-empty/);
    expect(() => compileKey('{id}', Shapes.prototype.destructured, where)).toThrow(/destructured parameter has no name/);
  });

  test('`params` names the parameters when the source cannot', () => {
    // As a minifier leaves it: short names that mean nothing.
    const minified = new Function('a', 'b', 'return a + b');
    expect(() => compileKey('orders:{orderId}', minified, where)).toThrow(/'orderId'/);
    expect(compileKey('orders:{orderId}:{dto.id}', minified, where, ['orderId', 'dto'])(['o', { id: 1 }])).toBe('orders:o:1');
    const bound = Shapes.prototype.place.bind(null);
    expect(() => compileKey('orders:{orderId}', bound, where)).toThrow(/cannot be read from its source.*`params`/);
    expect(compileKey('{0}', bound, where)(['still-by-index'])).toBe('still-by-index');
    expect(compileKey('orders:{orderId}', bound, where, ['orderId'])(['o'])).toBe('orders:o');
  });
});
