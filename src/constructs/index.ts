export * from './pod';
export * from './realtime-bot';
export * from './scheduled-bot';
