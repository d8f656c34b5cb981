/** The emulator's store: the account's data (state.ts) and what can be done with it, per resource. */
export * from './agents';
export * from './contents';
export * from './identities';
export * from './interventions';
export * from './permissions';
export * from './state';
export * from './threads';
export * from './webhooks';
