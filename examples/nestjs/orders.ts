/**
 * The NestJS example's orders service: an HTTP API whose writes take a distributed lock per order
 * (@DistributedLock) and are fenced by its token in the cluster, a billing job that runs in one
 * instance of the service at a time (@LeaderOnly), and the service's registration in discovery.
 * Orders are kept in HikariKeeper itself (`/orders/<id>`), so that every instance sees the same ones.
 *
 *   POST /orders          { "id": "42", "amount": 30 }   creates an order (lock orders:<id>)
 *   POST /orders/:id/pay                                  pays it, once however many calls race (lock orders:<id>)
 *   GET  /orders/:id                                      reads it
 *   GET  /billing                                         { instance, leader, runs } of this instance's billing job
 */
import {
  Body,
  Controller,
  DynamicModule,
  Get,
  Injectable,
  Module,
  NotFoundException,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
  Param,
  Post,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ErrorCode, HikariClient, HikariError } from '@hikarikeeper/client';
import {
  currentFence,
  currentLock,
  DistributedLock,
  HikariElection,
  HikariExceptionFilter,
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
  /** How often the billing job fires (ms). Default 5,000. */
  billingEveryMs?: number;
  /** Advertised in discovery. Default: guessed (see HikariRegistrationOptions.host). */
  host?: string;
}

@Injectable()
export class OrdersService implements OnModuleInit {
  constructor(@InjectHikari() private readonly hikari: HikariClient) {}

  async onModuleInit(): Promise<void> {
    await this.hikari.create('/orders', '').catch(ignore(ErrorCode.NODE_EXISTS));
  }

  /** The lock's name comes from a property of the parameter named `dto`. */
  @DistributedLock('orders:{dto.id}', { waitMs: 5_000 })
  async create(dto: { id: string; amount: number }): Promise<Order> {
    const order: Order = { id: dto.id, amount: dto.amount, status: 'new', charges: 0, fence: currentFence() };
    // Fenced by the grant: refused if another holder of orders:<id> has come since (this one paused past its session).
    await this.hikari.create(`/orders/${dto.id}`, JSON.stringify(order), { fence: currentLock()! });
    return order;
  }

  /** One payment per order, whatever races: the read, the charge and the write run under orders:<id>. */
  @DistributedLock('orders:{0}', { waitMs: 5_000 })
  async pay(id: string): Promise<Order> {
    const order = await this.find(id);
    if (order.status === 'paid') return order;
    await new Promise((resolve) => setTimeout(resolve, 20)); // the payment provider's round trip
    const paid: Order = { ...order, status: 'paid', charges: order.charges + 1, fence: currentFence() };
    await this.hikari.set(`/orders/${id}`, JSON.stringify(paid), { fence: currentLock()! });
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

/**
 * Billing: fires on an interval in every instance, runs in the leader of election 'billing' only.
 * With @nestjs/schedule, `@Interval(5_000)` or `@Cron('0 * * * *')` on `bill()` replaces the timer.
 */
@Injectable()
export class BillingJob implements OnApplicationBootstrap, OnApplicationShutdown {
  runs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly everyMs: number) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.bill(), this.everyMs);
  }

  onApplicationShutdown(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  @LeaderOnly('billing')
  async bill(): Promise<void> {
    this.runs++;
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
      ],
      controllers: [OrdersController, BillingController],
      providers: [
        OrdersService,
        { provide: BillingJob, useFactory: () => new BillingJob(options.billingEveryMs ?? 5_000) },
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
