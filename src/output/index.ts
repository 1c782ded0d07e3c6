export type { OutboxRelay } from './types.ts';
