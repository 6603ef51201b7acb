import { createServer } from 'node:net';

// Below Linux's default ephemeral range (32768–60999): ports the kernel hands out for
// listen(0) and for outgoing connections never land here, so a port a test releases
// (a service it kills and restarts) is not taken meanwhile by another test's server.
const LOW = 12_000;
const HIGH = 32_000;

/**
 * A free TCP port on loopback, picked at random in [12000, 32000) and checked by
 * binding it. The port is released before it is returned, so a tiny race remains;
 * callers that bind it should retry on EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await canBind(port)) return port;
  }
  throw new Error('no free port found in 50 attempts');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
