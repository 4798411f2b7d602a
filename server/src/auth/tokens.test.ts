import { checkTokenId, generateToken, splitToken } from './tokens';

describe('generateToken', () => {
  test('ids start with a letter (never `-`, which a command line would read as an option) and parse back', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const { id, secret, token } = generateToken();
      expect(id).toMatch(/^[A-Za-z][A-Za-z0-9_-]{12}$/);
      expect(checkTokenId(id)).toBe(id);
      expect(splitToken(token)).toEqual({ id, secret });
      ids.add(id);
    }
    expect(ids.size).toBe(2_000);
  });
});
