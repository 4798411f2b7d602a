/**
 * The NestJS example's second service: a gateway that finds the orders service through discovery
 * (HikariDiscovery.pick: a passing instance, round-robin) and forwards reads to it.
 *
 *   GET /orders/:id   the order, from whichever orders instance was picked ({ servedBy, order })
 */
import { Controller, DynamicModule, Get, Logger, Module, Param, ServiceUnavailableException } from '@nestjs/common';
import { HikariDiscovery, HikariModule } from '@hikarikeeper/nestjs';
import type { Order } from './orders';

@Controller('orders')
export class GatewayController {
  private readonly logger = new Logger('Gateway');
  constructor(private readonly discovery: HikariDiscovery) {}

  @Get(':id')
  async find(@Param('id') id: string): Promise<{ servedBy: string; order: Order }> {
    const picked = await this.discovery.pick('orders');
    if (picked === null) throw new ServiceUnavailableException('no orders instance is passing');
    try {
      const answer = await fetch(`http://${picked.instance.address}/orders/${encodeURIComponent(id)}`);
      if (!answer.ok) {
        if (answer.status >= 500) this.discovery.reportFailure(picked.instance); // skipped for a while by later picks
        throw new ServiceUnavailableException(`orders instance ${picked.instance.id} answered ${answer.status}`);
      }
      this.logger.log(`GET /orders/${id} → ${picked.instance.id} at ${picked.instance.address} (picked by discovery)`);
      return { servedBy: picked.instance.id, order: (await answer.json()) as Order };
    } finally {
      picked.release();
    }
  }
}

@Module({})
export class GatewayModule {
  static forCluster(endpoints: readonly string[]): DynamicModule {
    return {
      module: GatewayModule,
      imports: [HikariModule.forRoot({ endpoints })],
      controllers: [GatewayController],
    };
  }
}
