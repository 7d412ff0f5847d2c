export * from './pod';
export * from './realtime-bot';
export * from './scheduled-bot';
export * from './query-job';
export * from './from-spec';
export * from './network-policy';
export * from './platform';
