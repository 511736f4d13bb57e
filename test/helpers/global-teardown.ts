import type { DevServer } from '../../src/temporal/dev-server';
import type { Moto } from './stack';

export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as Record<string, unknown>).__DBOPS_STACK__ as
    { temporal: DevServer; moto: Moto } | undefined;
  if (!stack) return;
  await Promise.all([stack.temporal.stop(), stack.moto.stop()]);
}
