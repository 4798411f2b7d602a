/**
 * A minimal Nest HTTP platform over node:http, for this repository's example and tests: the
 * repository installs @nestjs/common and @nestjs/core only, not @nestjs/platform-express. In an
 * application of your own, use `NestFactory.create(AppModule)` with @nestjs/platform-express (or
 * fastify) instead: HikariModule works with any platform.
 *
 * What it does: routes (`@Get('orders/:id')`, every method; `:param` segments and a final `*rest`
 * wildcard), middleware (`app.use`, `configure(consumer)`), JSON and text bodies, `req.params`,
 * `req.query`, `req.body`, replies as JSON (objects) or text, and Nest's error and not-found handlers.
 * What it does not: static files, views, versioning, CORS beyond `Access-Control-Allow-Origin`, file
 * streams.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import type { NestApplicationOptions, VersioningOptions, VersionValue } from '@nestjs/common/interfaces';
import { AbstractHttpAdapter } from '@nestjs/core';

/** A request as handlers see it. */
export interface NodeRequest extends IncomingMessage {
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  body: unknown;
  originalUrl: string;
}

type Handler = (req: NodeRequest, res: ServerResponse, next: (error?: unknown) => void) => unknown;
type ErrorHandler = (error: unknown, req: NodeRequest, res: ServerResponse, next: (error?: unknown) => void) => unknown;

interface Layer {
  /** Null: any method. */
  readonly method: string | null;
  /** Middleware match a path prefix; routes the whole path. */
  readonly prefix: boolean;
  readonly pattern: RegExp;
  readonly keys: readonly string[];
  readonly handler: Handler;
}

/** Longest body read (bytes); a longer one is answered 413. */
const BODY_BYTES_MAX = 1 << 20;

const METHODS: Partial<Record<RequestMethod, string>> = {
  [RequestMethod.GET]: 'GET',
  [RequestMethod.POST]: 'POST',
  [RequestMethod.PUT]: 'PUT',
  [RequestMethod.DELETE]: 'DELETE',
  [RequestMethod.PATCH]: 'PATCH',
  [RequestMethod.OPTIONS]: 'OPTIONS',
  [RequestMethod.HEAD]: 'HEAD',
};

export class NodeHttpAdapter extends AbstractHttpAdapter<Server, NodeRequest, ServerResponse> {
  private readonly layers: Layer[] = [];
  private parseBodies = false;
  private errorHandler: ErrorHandler | null = null;
  private notFoundHandler: Handler | null = null;

  constructor() {
    super({});
  }

  override use(...args: unknown[]): void {
    const [path, handler] = typeof args[0] === 'string' ? [args[0], args[1]] : ['/', args[0]];
    this.add(null, path as string, handler as Handler, true);
  }

  override get(...args: unknown[]): void {
    this.route('GET', args);
  }
  override post(...args: unknown[]): void {
    this.route('POST', args);
  }
  override put(...args: unknown[]): void {
    this.route('PUT', args);
  }
  override delete(...args: unknown[]): void {
    this.route('DELETE', args);
  }
  override patch(...args: unknown[]): void {
    this.route('PATCH', args);
  }
  override head(...args: unknown[]): void {
    this.route('HEAD', args);
  }
  override options(...args: unknown[]): void {
    this.route('OPTIONS', args);
  }
  override all(...args: unknown[]): void {
    this.route(null, args);
  }

  override listen(port: string | number, hostnameOrCallback?: string | (() => void), callback?: () => void): Server {
    if (typeof hostnameOrCallback === 'function') return this.httpServer.listen(port, hostnameOrCallback);
    return hostnameOrCallback === undefined ? this.httpServer.listen(port, callback) : this.httpServer.listen(Number(port), hostnameOrCallback, callback);
  }

  initHttpServer(_options: NestApplicationOptions): void {
    this.httpServer = createServer((req, res) => void this.handle(req as NodeRequest, res));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.httpServer?.listening) return resolve();
      this.httpServer.close(() => resolve());
      this.httpServer.closeIdleConnections();
    });
  }

  getType(): string {
    return 'node-http';
  }

  registerParserMiddleware(): void {
    this.parseBodies = true;
  }

  setErrorHandler(handler: Function): void {
    this.errorHandler = handler as ErrorHandler;
  }

  setNotFoundHandler(handler: Function): void {
    this.notFoundHandler = handler as Handler;
  }

  createMiddlewareFactory(requestMethod: RequestMethod): (path: string, callback: Function) => void {
    return (path, callback) => this.add(METHODS[requestMethod] ?? null, path, callback as Handler, true);
  }

  reply(res: ServerResponse, body: unknown, statusCode?: number): void {
    if (statusCode !== undefined) res.statusCode = statusCode;
    if (body === undefined || body === null) {
      res.end();
    } else if (typeof body === 'object' && !Buffer.isBuffer(body)) {
      if (!res.hasHeader('content-type')) res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(body));
    } else {
      if (!res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(Buffer.isBuffer(body) ? body : String(body));
    }
  }

  status(res: ServerResponse, statusCode: number): void {
    res.statusCode = statusCode;
  }

  end(res: ServerResponse, message?: string): void {
    res.end(message);
  }

  redirect(res: ServerResponse, statusCode: number, url: string): void {
    res.statusCode = statusCode;
    res.setHeader('location', url);
    res.end();
  }

  isHeadersSent(res: ServerResponse): boolean {
    return res.headersSent;
  }

  getHeader(res: ServerResponse, name: string): unknown {
    return res.getHeader(name);
  }

  setHeader(res: ServerResponse, name: string, value: string): void {
    res.setHeader(name, value);
  }

  appendHeader(res: ServerResponse, name: string, value: string): void {
    res.appendHeader(name, value);
  }

  getRequestHostname(req: NodeRequest): string {
    return (req.headers.host ?? '').replace(/:\d+$/, '');
  }

  getRequestMethod(req: NodeRequest): string {
    return req.method ?? 'GET';
  }

  getRequestUrl(req: NodeRequest): string {
    return req.originalUrl ?? req.url ?? '/';
  }

  enableCors(): void {
    this.use((_req: NodeRequest, res: ServerResponse, next: () => void) => {
      res.setHeader('access-control-allow-origin', '*');
      next();
    });
  }

  useStaticAssets(): never {
    throw new Error('NodeHttpAdapter does not serve static files');
  }

  setViewEngine(): never {
    throw new Error('NodeHttpAdapter does not render views');
  }

  render(): never {
    throw new Error('NodeHttpAdapter does not render views');
  }

  applyVersionFilter(_handler: Function, _version: VersionValue, _options: VersioningOptions): never {
    throw new Error('NodeHttpAdapter does not support versioning');
  }

  private route(method: string | null, args: unknown[]): void {
    const [path, handler] = typeof args[0] === 'string' ? [args[0], args[1]] : ['/', args[0]];
    this.add(method, path as string, handler as Handler, false);
  }

  private add(method: string | null, path: string, handler: Handler, prefix: boolean): void {
    const keys: string[] = [];
    let source = '';
    for (const segment of path.split('/').filter((s) => s !== '')) {
      const wildcard = /^\{?\*(\w*)\}?$/.exec(segment);
      if (wildcard !== null) {
        keys.push(wildcard[1] || '0');
        source += '(?:/(.*))?';
        break;
      }
      if (segment.startsWith(':')) {
        keys.push(segment.slice(1));
        source += '/([^/]+)';
      } else {
        source += '/' + segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
    }
    const pattern = new RegExp(`^${source}${prefix ? '(?:/.*)?' : '/?'}$`);
    this.layers.push({ method, prefix, pattern: source === '' && prefix ? /^.*$/ : pattern, keys, handler });
  }

  private async handle(req: NodeRequest, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    req.originalUrl = req.url ?? '/';
    req.params = {};
    req.query = {};
    for (const [key, value] of url.searchParams) {
      const seen = req.query[key];
      req.query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    try {
      req.body = this.parseBodies ? await readBody(req) : undefined;
    } catch (error) {
      return this.fail(error, req, res);
    }
    let index = 0;
    const next = (error?: unknown): void => {
      if (error !== undefined && error !== null && error !== 'route') return this.fail(error, req, res);
      for (; index < this.layers.length; index++) {
        const layer = this.layers[index]!;
        if (layer.method !== null && layer.method !== req.method) continue;
        const match = layer.pattern.exec(decodeURI(url.pathname));
        if (match === null) continue;
        index++;
        req.params = Object.fromEntries(layer.keys.map((key, i) => [key, match[i + 1] ?? '']));
        try {
          const result = layer.handler(req, res, next);
          if (result instanceof Promise) result.catch((e: unknown) => this.fail(e, req, res));
        } catch (e) {
          this.fail(e, req, res);
        }
        return;
      }
      if (this.notFoundHandler !== null) void this.notFoundHandler(req, res, next);
      else this.reply(res, { statusCode: 404, message: `Cannot ${req.method} ${req.url}` }, 404);
    };
    next();
  }

  private fail(error: unknown, req: NodeRequest, res: ServerResponse): void {
    if (this.errorHandler !== null) {
      void this.errorHandler(error, req, res, () => undefined);
    } else if (!res.headersSent) {
      this.reply(res, { statusCode: 500, message: 'Internal server error' }, 500);
    }
  }
}

/** The body: parsed JSON for a JSON content type, text otherwise, undefined when empty. */
async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > BODY_BYTES_MAX) throw Object.assign(new Error('request body too large'), { status: 413, statusCode: 413, expose: true });
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  if (!/^application\/(?:[\w.+-]*\+)?json\b/i.test(req.headers['content-type'] ?? '')) return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw Object.assign(new SyntaxError(`malformed JSON body: ${(error as Error).message}`), { status: 400 });
  }
}
