/**
 * The NestJS example's orders service: an HTTP API whose writes take a distributed lock per order
 * (@DistributedLock) and are fenced by its token in the cluster, a billing job that runs in one
 * instance of the service at a time (@LeaderOnly), and the service's registration in discovery.
 * Orders are kept in HikariKeeper itself (`/orders/<id>`), so that every instance sees the same ones.
 *
 *   POST /orders          { "id": "42", "amount": 30 }   creates an order (lock orders:<id>)
 *   POST /orders/:id/pay                                  pays it, once however many calls race (lock orders:<id>)
 *   GET  /orders/:id                                      reads it
 *   GET  /billing                                         { leader, runs } of this instance's billing job
 *   GET  /health                                          Terminus health check (HikariHealthIndicator)
 *
 * The billing job is a real @nestjs/schedule cron (every 2 s by default) with @LeaderOnly: it fires
 * in every instance and runs in the leader only, which writes its run to `/billing` fenced with its
 * leadership token (a deposed leader's late write is refused).
 */
import { Body, Controller, DynamicModule, Get, Injectable, Logger, Module, NotFoundException, OnModuleInit, Param, Post } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Cron, ScheduleModule } from '@nestjs/schedule';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { ELECTION_LOCK_PREFIX, ErrorCode, HikariClientApi, HikariError } from '@hikarikeeper/client';
import {
  currentFence,
  currentLock,
  DistributedLock,
  HikariElection,
  HikariExceptionFilter,
  HikariHealthIndicator,
  HikariModule,
  InjectHikari,
  LeaderOnly,
} from '@hikarikeeper/nestjs';

export interface Order {
  id: string;
  amount: number;
  status: 'new' | 'paid';
  /** Times the payment provider was charged: 1 at most, however many calls race. */
  charges: number;
  /** The fencing token of the last write. */
  fence: number;
}

export interface OrdersAppOptions {
  endpoints: readonly string[];
  /** Names this instance (its election value and registration id). */
  instanceId?: string;
  /** Advertised in discovery. Default: guessed (see HikariRegistrationOptions.host). */
  host?: string;
}

@Injectable()
export class OrdersService implements OnModuleInit {
  private readonly logger = new Logger('Orders');
  // HikariClientApi: what both HikariClient and HikariTestingModule's in-process client offer.
  constructor(@InjectHikari() private readonly hikari: HikariClientApi) {}

  async onModuleInit(): Promise<void> {
    await this.hikari.create('/orders', '').catch(ignore(ErrorCode.NODE_EXISTS));
  }

  /** The lock's name comes from a property of the parameter named `dto`. */
  @DistributedLock('orders:{dto.id}') // waits up to the module's locks.waitMs
  async create(dto: { id: string; amount: number }): Promise<Order> {
    const order: Order = { id: dto.id, amount: dto.amount, status: 'new', charges: 0, fence: currentFence() };
    // Fenced by the grant: refused if another holder of orders:<id> has come since (this one paused past its session).
    await this.hikari.create(`/orders/${dto.id}`, JSON.stringify(order), { fence: currentLock()! });
    this.logger.log(`order ${dto.id} created under lock orders:${dto.id} (token ${order.fence})`);
    return order;
  }

  /** One payment per order, whatever races: the read, the charge and the write run under orders:<id>. */
  @DistributedLock('orders:{0}')
  async pay(id: string): Promise<Order> {
    const order = await this.find(id);
    if (order.status === 'paid') {
      this.logger.log(`order ${id} is paid already: nothing charged (lock orders:${id}, token ${currentFence()})`);
      return order;
    }
    await new Promise((resolve) => setTimeout(resolve, 20)); // the payment provider's round trip
    const paid: Order = { ...order, status: 'paid', charges: order.charges + 1, fence: currentFence() };
    await this.hikari.set(`/orders/${id}`, JSON.stringify(paid), { fence: currentLock()! });
    this.logger.log(`order ${id} paid: charged once under lock orders:${id} (token ${paid.fence})`);
    return paid;
  }

  async find(id: string): Promise<Order> {
    try {
      return JSON.parse((await this.hikari.get(`/orders/${id}`)).data.toString()) as Order;
    } catch (error) {
      if (HikariError.is(error, ErrorCode.NO_NODE)) throw new NotFoundException(`no order ${id}`);
      throw error;
    }
  }
}

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post()
  create(@Body() dto: { id: string; amount: number }): Promise<Order> {
    return this.orders.create(dto);
  }

  @Post(':id/pay')
  pay(@Param('id') id: string): Promise<Order> {
    return this.orders.pay(id);
  }

  @Get(':id')
  find(@Param('id') id: string): Promise<Order> {
    return this.orders.find(id);
  }
}

/** When the billing job fires: every 2 seconds (a real cron would say '0 * * * *'). */
export const BILLING_CRON = '*/2 * * * * *';

/**
 * Billing: a cron that fires in every instance and runs in the leader of election 'billing' only.
 * The leader records each run in `/billing`, fenced with its leadership token: if it was deposed
 * meanwhile (paused past its session), the write is refused rather than racing the new leader's.
 */
@Injectable()
export class BillingJob {
  runs = 0;
  private readonly logger = new Logger('Billing');

  constructor(
    @InjectHikari() private readonly hikari: HikariClientApi,
    private readonly elections: HikariElection,
  ) {}

  @Cron(BILLING_CRON, { name: 'billing' })
  @LeaderOnly('billing')
  async bill(): Promise<void> {
    const token = this.elections.token('billing')!;
    const run = { run: ++this.runs, at: new Date().toISOString(), token };
    const fence = { lock: ELECTION_LOCK_PREFIX + 'billing', token };
    await this.hikari.set('/billing', JSON.stringify(run), { fence }).catch(async (error: unknown) => {
      if (!HikariError.is(error, ErrorCode.NO_NODE)) throw error;
      await this.hikari.create('/billing', JSON.stringify(run), { fence });
    });
    this.logger.log(`billing run #${run.run} here, the leader (leadership token ${token})`);
  }
}

@Controller('billing')
export class BillingController {
  constructor(
    private readonly job: BillingJob,
    private readonly elections: HikariElection,
  ) {}

  @Get()
  status(): { leader: boolean; runs: number } {
    return { leader: this.elections.isLeader('billing'), runs: this.job.runs };
  }
}

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly hikari: HikariHealthIndicator,
  ) {}

  /** 200 with the details while the cluster answers and the session is alive; 503 otherwise. */
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.hikari.isHealthy('hikari')]);
  }
}

@Module({})
export class OrdersModule {
  static forCluster(options: OrdersAppOptions): DynamicModule {
    return {
      module: OrdersModule,
      imports: [
        HikariModule.forRoot({
          endpoints: options.endpoints,
          instanceId: options.instanceId,
          registration: { service: 'orders', host: options.host, tags: ['v1'] },
          locks: { waitMs: 5_000 },
          isGlobal: true,
        }),
        ScheduleModule.forRoot(),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [OrdersController, BillingController, HealthController],
      providers: [
        OrdersService,
        BillingJob,
        { provide: APP_FILTER, useClass: HikariExceptionFilter }, // the SDK's LOCK_TIMEOUT / FENCE_MISMATCH → 409
      ],
    };
  }
}

function ignore(code: ErrorCode): (error: unknown) => void {
  return (error) => {
    if (!HikariError.is(error, code)) throw error;
  };
}
