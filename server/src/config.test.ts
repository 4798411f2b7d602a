import { ErrorCode, HikariError } from '@hikarikeeper/protocol';
import { resolveConfig } from './config';
import { CLIENT_RETENTION_MS_DEFAULT, CLIENT_RETENTION_MS_MAX, CLIENT_RETENTION_MS_MIN } from './sessions/client-expiry';

describe('resolveConfig: client retention', () => {
  test('24 h by default; the environment overrides it, a flag overrides the environment', () => {
    expect(resolveConfig({}, {}).clientRetentionMs).toBe(CLIENT_RETENTION_MS_DEFAULT);
    expect(resolveConfig({}, { HIKARI_CLIENT_RETENTION_MS: '60000' }).clientRetentionMs).toBe(60_000);
    expect(resolveConfig({ clientRetentionMs: '5000' }, { HIKARI_CLIENT_RETENTION_MS: '60000' }).clientRetentionMs).toBe(5_000);
  });

  test.each([String(CLIENT_RETENTION_MS_MIN - 1), String(CLIENT_RETENTION_MS_MAX + 1), '1.5', 'a day'])('%s is refused with INVALID_ARGUMENT naming the setting', (value) => {
    let error: unknown;
    try {
      resolveConfig({ clientRetentionMs: value }, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HikariError);
    expect(error).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, details: { field: 'clientRetentionMs' } });
  });
});

describe('resolveConfig: the peer certificate name', () => {
  const tls = { tlsCert: 'n.crt', tlsKey: 'n.key', tlsCa: 'ca.crt' };

  test('none by default; given by flag or HIKARI_TLS_PEER_NAME, with {id} kept for each peer', () => {
    expect(resolveConfig(tls, {}).tls?.peerName).toBeUndefined();
    expect(resolveConfig(tls, { HIKARI_TLS_PEER_NAME: 'hikari-node' }).tls?.peerName).toBe('hikari-node');
    expect(resolveConfig({ ...tls, tlsPeerName: 'node-{id}.example.com' }, {}).tls?.peerName).toBe('node-{id}.example.com');
  });

  test.each([
    [{ ...tls, tlsPeerName: 'a name' }],
    [{ ...tls, tlsPeerName: '' }],
    [{ ...tls, tlsPeerName: 'node-{ID}' }],
    [{ ...tls, tlsPeerName: 'x'.repeat(254) }],
    [{ tlsPeerName: 'hikari-node' }], // without TLS
  ])('%j is refused with INVALID_ARGUMENT naming the setting', (flags) => {
    expect(() => resolveConfig(flags, {})).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, details: expect.objectContaining({ field: 'tlsPeerName' }) }));
  });
});

describe('resolveConfig: the revocation list', () => {
  test('given with TLS by flag or HIKARI_TLS_CRL; without TLS it is refused', () => {
    const tls = { tlsCert: 'n.crt', tlsKey: 'n.key', tlsCa: 'ca.crt' };
    expect(resolveConfig(tls, {}).tls?.crl).toBeUndefined();
    expect(resolveConfig(tls, { HIKARI_TLS_CRL: 'crl.pem' }).tls?.crl).toBe('crl.pem');
    expect(() => resolveConfig({ tlsCrl: 'crl.pem' }, {})).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, details: expect.objectContaining({ field: 'tlsCrl' }) }));
  });
});
