import { after, before } from 'node:test';
import { startRedisServer, type RedisServerHandle, type RedisServerOptions } from './redis-server.ts';

/**
 * One real redis-server for the enclosing test file or `describe`: started in its
 * `before` hook, closed in its `after` hook. The returned handle delegates to that server,
 * so read it inside tests and hooks. File-level `before` hooks run at once, side by side:
 * one that needs the server awaits `started` first.
 */
export function useRedisServer(options?: RedisServerOptions): RedisServerHandle & { started: Promise<void> } {
  let server: RedisServerHandle | undefined;
  let resolveStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    resolveStarted = resolve;
  });
  before(async () => {
    server = await startRedisServer(options);
    resolveStarted();
  });
  after(async () => {
    await server?.close();
  });
  const current = (): RedisServerHandle => {
    if (server === undefined) throw new Error('useRedisServer: the server is read before its before() hook ran');
    return server;
  };
  return {
    started,
    get port() {
      return current().port;
    },
    get url() {
      return current().url;
    },
    stop: (signal) => current().stop(signal),
    restart: () => current().restart(),
    close: () => current().close(),
  };
}
