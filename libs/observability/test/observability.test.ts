import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { z } from 'zod';
import { ConfigError, Health, Registry, createLogger, env, loadConfig, portcullisMetrics, requestIdFrom } from '../src/index.ts';

test('loadConfig defaults, coerces, and names the variable that is wrong', () => {
  const shape = { PORT: env.port(8080), FLAG: env.bool(false), NAME: z.string().default('x') };
  assert.deepEqual(loadConfig(shape, { PORT: '9000', FLAG: 'true', NAME: '' }), { PORT: 9000, FLAG: true, NAME: 'x' });
  assert.throws(
    () => loadConfig(shape, { PORT: 'eighty' }),
    (error: unknown) => error instanceof ConfigError && error.variable === 'PORT' && /eighty/.test(error.message),
  );
  assert.throws(() => loadConfig(shape, { FLAG: 'maybe' }), /FLAG/);
});

test('a configuration error never echoes a secret or URL credentials', () => {
  const shape = { JWT_SECRET: z.string().min(32), REDIS_URL: z.string().regex(/^redis:\/\/$/) };
  assert.throws(
    () => loadConfig(shape, { JWT_SECRET: 'short-secret', REDIS_URL: 'redis://' }),
    (e: Error) => e.message.includes('12 characters') && !e.message.includes('short-secret'),
  );
  assert.throws(
    () => loadConfig(shape, { JWT_SECRET: 'x'.repeat(32), REDIS_URL: 'redis://:hunter2@h1:1,h2:2' }),
    (e: Error) => e.message.includes('//***@h1') && !e.message.includes('hunter2'),
  );
});

test('the logger redacts tokens and secrets wherever they sit', () => {
  const lines: string[] = [];
  const log = createLogger({
    service: 't',
    destination: new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  });
  log.info({ headers: { authorization: 'Bearer abc.def.ghi' }, client_secret: 's3cret', body: { token: 'tkn' } }, 'hello');
  const line = lines.join('');
  assert.doesNotMatch(line, /abc\.def\.ghi|s3cret|"tkn"/);
  assert.match(line, /\[redacted\]/);
});

test('readiness follows critical components and draining', () => {
  const health = new Health();
  let redisUp = true;
  health.register({ name: 'redis', critical: true, check: () => ({ status: redisUp ? 'up' : 'down' }) });
  health.register({ name: 'bus', critical: false, check: () => ({ status: 'down' }) });
  health.register({
    name: 'broken',
    critical: false,
    check: () => {
      throw new Error('probe bug');
    },
  });
  assert.equal(health.report().ready, true);
  assert.equal(health.report().status, 'degraded');
  assert.equal(health.report().components.broken?.status, 'down');
  redisUp = false;
  assert.equal(health.report().ready, false);
  redisUp = true;
  health.startDraining();
  assert.equal(health.report().ready, false);
});

test('metrics are created once per registry and request ids are sanitised', () => {
  const registry = new Registry();
  assert.equal(portcullisMetrics(registry), portcullisMetrics(registry));
  assert.notEqual(portcullisMetrics(registry), portcullisMetrics(new Registry()));
  assert.equal(requestIdFrom('abc-123'), 'abc-123');
  assert.notEqual(requestIdFrom('bad\nid'), 'bad\nid');
  assert.notEqual(requestIdFrom('x'.repeat(500)), 'x'.repeat(500));
});
