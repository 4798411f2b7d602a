/**
 * The NestJS example's processes. `npm run example` (run.ts) starts two orders instances and the
 * gateway with it against the `npm start` cluster; to run them by hand instead: `npx tsc -b`, start
 * a cluster (`npm start`), then
 *
 *   PORT=3001 INSTANCE_ID=orders-a node examples/nestjs/dist/main.js orders   # as many as you like
 *   PORT=3002 INSTANCE_ID=orders-b node examples/nestjs/dist/main.js orders
 *   PORT=3000 node examples/nestjs/dist/main.js gateway
 *   curl -XPOST localhost:3001/orders -H 'content-type: application/json' -d '{"id":"42","amount":30}'
 *   curl -XPOST localhost:3002/orders/42/pay; curl localhost:3000/orders/42; curl localhost:3001/billing
 *   curl localhost:3001/health
 *
 * HIKARI_ENDPOINTS (default 127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703) names the cluster. Stop an
 * instance with Ctrl-C: it deregisters and resigns at once (enableShutdownHooks), and another
 * instance takes the billing job over.
 */
import { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GatewayModule } from './gateway';
import { NodeHttpAdapter } from './node-http-adapter';
import { OrdersAppOptions, OrdersModule } from './orders';

/** Where the apps log: Nest's logger at these levels, or a LoggerService. Default: warnings and errors. */
export type ExampleLogger = LogLevel[] | LoggerService;

/** An orders instance, listening on `port` (0: any free port) of `hostname`. */
export async function startOrders(options: OrdersAppOptions, port: number, hostname = '127.0.0.1', logger: ExampleLogger = ['error', 'warn']): Promise<INestApplication> {
  // With @nestjs/platform-express installed: NestFactory.create(OrdersModule.forCluster(options)).
  const app = await NestFactory.create(OrdersModule.forCluster(options), new NodeHttpAdapter(), { logger });
  app.enableShutdownHooks();
  await app.listen(port, hostname);
  return app;
}

/** The gateway, listening on `port` of `hostname`. */
export async function startGateway(endpoints: readonly string[], port: number, hostname = '127.0.0.1', logger: ExampleLogger = ['error', 'warn']): Promise<INestApplication> {
  const app = await NestFactory.create(GatewayModule.forCluster(endpoints), new NodeHttpAdapter(), { logger });
  app.enableShutdownHooks();
  await app.listen(port, hostname);
  return app;
}

/** Nest's own start-up lines (modules loaded, routes mapped): left out of the example's output. */
const STARTUP_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/** One line per message, `HH:MM:SS level [context] message`: what run.ts prefixes with the process's name. */
export const compactLogger: LoggerService = {
  log: (message: unknown, context?: string) => STARTUP_CONTEXTS.has(context ?? '') || print('info', message, context),
  warn: (message: unknown, context?: string) => print('WARN', message, context),
  error: (message: unknown, context?: string) => print('ERROR', message, context),
};

function print(level: string, message: unknown, context: string | undefined): void {
  const text = message instanceof Error ? (message.stack ?? message.message) : String(message);
  console.log(`${new Date().toISOString().slice(11, 19)} ${level} ${context === undefined ? '' : `[${context}] `}${text}`);
}

if (require.main === module) {
  const endpoints = (process.env.HIKARI_ENDPOINTS ?? '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703').split(',');
  const port = Number(process.env.PORT ?? 3000);
  const role = process.argv[2] === 'gateway' ? 'gateway' : 'orders';
  const instanceId = process.env.INSTANCE_ID;
  if (process.env.EXAMPLE_SUPERVISED === '1') {
    // Started by run.ts: its pipe to our stdin closes if it dies, and we stop (cleanly) with it.
    process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
    process.stdin.resume();
  }
  const started =
    role === 'gateway'
      ? startGateway(endpoints, port, '127.0.0.1', compactLogger)
      : startOrders({ endpoints, host: '127.0.0.1', instanceId }, port, '127.0.0.1', compactLogger);
  started.then(
    (app) => app.getUrl().then((url) => console.log(`${role} listening on ${url}`)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
