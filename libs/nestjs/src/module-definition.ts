/**
 * HikariModule's `forRoot` / `forRootAsync`, built by Nest's ConfigurableModuleBuilder: the options
 * are provided under HIKARI_MODULE_OPTIONS, and `isGlobal: true` makes the module global (its
 * providers injectable everywhere without importing it again).
 */
import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { HikariModuleOptions } from './options';

export const {
  ConfigurableModuleClass: HikariConfigurableModule,
  MODULE_OPTIONS_TOKEN: HIKARI_MODULE_OPTIONS,
  OPTIONS_TYPE: HIKARI_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: HIKARI_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<HikariModuleOptions>({ moduleName: 'Hikari' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createHikariOptions')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();

/** What `forRoot` takes: the module's options, and `isGlobal`. */
export type HikariModuleRootOptions = typeof HIKARI_OPTIONS_TYPE;

/** What `forRootAsync` takes: `imports`, `useFactory` + `inject`, `useClass` or `useExisting` (a HikariOptionsFactory), and `isGlobal`. */
export type HikariModuleAsyncOptions = typeof HIKARI_ASYNC_OPTIONS_TYPE;

/** A class `forRootAsync({ useClass })` can take. */
export interface HikariOptionsFactory {
  createHikariOptions(): Promise<HikariModuleOptions> | HikariModuleOptions;
}
