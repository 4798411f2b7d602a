/**
 * A small client of the admin HTTP port, for the CLI and the process cluster (npm start, tests):
 * HTTP or HTTPS (with the cluster's CA, and a client certificate if given), a bearer token, JSON in
 * and out, a deadline. node:http rather than fetch: fetch cannot be given a CA of its own.
 */
import { request as httpRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';

export interface AdminClientOptions {
  /** Bearer token for a cluster with authentication on. */
  readonly token?: string;
  /** HTTPS: the CA of the nodes' certificates, and optionally a client certificate and key (PEM). */
  readonly tls?: { readonly ca?: string | Buffer; readonly cert?: string | Buffer; readonly key?: string | Buffer };
}

export interface AdminAnswer {
  readonly status: number;
  /** The JSON body (null when the body is not JSON). */
  readonly body: Record<string, unknown> | null;
  /** The body as text (Prometheus metrics, say). */
  readonly text: string;
}

/** Most bytes of an answer read (status and membership answers are small; a listing of tokens is not huge). */
const ANSWER_BYTES_MAX = 16 * 1024 * 1024;

/**
 * `method path` on the admin port at `address` ('host:port', or a URL `http(s)://host:port`).
 * Rejects on a network failure or timeout; any HTTP status resolves.
 */
export function adminRequest(address: string, method: string, path: string, options: AdminClientOptions, body?: unknown, timeoutMs = 15_000): Promise<AdminAnswer> {
  const url = new URL(path, /^https?:\/\//.test(address) ? address : `${options.tls === undefined ? 'http' : 'https'}://${address}`);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { accept: 'application/json' };
  if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const common = { method, headers, timeout: timeoutMs };
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const req = url.protocol === 'https:'
      ? httpsRequest(url, { ...common, ...options.tls, servername: isIP(hostname) === 0 ? hostname : undefined })
      : httpRequest(url, common);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${address} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > ANSWER_BYTES_MAX) req.destroy(new Error(`the answer of ${address} exceeds ${ANSWER_BYTES_MAX} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: parseJson(text), text });
      });
    });
    req.end(payload);
  });
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
