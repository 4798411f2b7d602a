/**
 * The NestJS example, runnable: `npx tsc -b`, start a cluster (`npm start`), then
 *
 *   PORT=3001 node examples/nestjs/dist/main.js orders     # as many orders instances as you like
 *   PORT=3002 node examples/nestjs/dist/main.js orders
 *   PORT=3000 node examples/nestjs/dist/main.js gateway
 *   curl -XPOST localhost:3001/orders -H 'content-type: application/json' -d '{"id":"42","amount":30}'
 *   curl -XPOST localhost:3002/orders/42/pay; curl localhost:3000/orders/42; curl localhost:3001/billing
 *
 * HIKARI_ENDPOINTS (default 127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703) names the cluster. Stop an
 * instance with Ctrl-C: it deregisters and resigns at once (enableShutdownHooks), and another
 * instance takes the billing job over.
 */
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GatewayModule } from './gateway';
import { NodeHttpAdapter } from './node-http-adapter';
import { OrdersAppOptions, OrdersModule } from './orders';

/** An orders instance, listening on `port` (0: any free port) of `hostname`. */
export async function startOrders(options: OrdersAppOptions, port: number, hostname = '127.0.0.1'): Promise<INestApplication> {
  // With @nestjs/platform-express installed: NestFactory.create(OrdersModule.forCluster(options)).
  const app = await NestFactory.create(OrdersModule.forCluster(options), new NodeHttpAdapter(), { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(port, hostname);
  return app;
}

/** The gateway, listening on `port` of `hostname`. */
export async function startGateway(endpoints: readonly string[], port: number, hostname = '127.0.0.1'): Promise<INestApplication> {
  const app = await NestFactory.create(GatewayModule.forCluster(endpoints), new NodeHttpAdapter(), { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(port, hostname);
  return app;
}

if (require.main === module) {
  const endpoints = (process.env.HIKARI_ENDPOINTS ?? '127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703').split(',');
  const port = Number(process.env.PORT ?? 3000);
  const started = process.argv[2] === 'gateway' ? startGateway(endpoints, port) : startOrders({ endpoints, host: '127.0.0.1' }, port);
  started.then(
    (app) => app.getUrl().then((url) => console.log(`${process.argv[2] ?? 'orders'} listening on ${url}`)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
