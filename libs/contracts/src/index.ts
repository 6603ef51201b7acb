export * from './cedar.ts';
export * from './errors.ts';
export * from './health.ts';
export * from './events.ts';
export * from './auth.ts';
export * from './redis-url.ts';
export * from './json.ts';
export * from './options.ts';
