import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRedisUrl } from '../src/index.ts';

test('one server, a cluster, credentials and TLS are read the same way everywhere', () => {
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6380'), {
    nodes: [{ host: '127.0.0.1', port: 6380 }],
    cluster: false,
    username: undefined,
    password: undefined,
    tls: false,
  });
  assert.deepEqual(parseRedisUrl('redis://redis'), {
    nodes: [{ host: 'redis', port: 6379 }],
    cluster: false,
    username: undefined,
    password: undefined,
    tls: false,
  });
  const cluster = parseRedisUrl('rediss://app:p%40ss:w@h1:7000,h2:7001,h3/0');
  assert.deepEqual(cluster.nodes, [
    { host: 'h1', port: 7000 },
    { host: 'h2', port: 7001 },
    { host: 'h3', port: 6379 },
  ]);
  assert.equal(cluster.cluster, true);
  assert.equal(cluster.username, 'app');
  assert.equal(cluster.password, 'p@ss:w');
  assert.equal(cluster.tls, true);
  assert.equal(parseRedisUrl('redis://:secret@h1:1,h2:2').password, 'secret');
});

test('a malformed URL is refused without echoing its password', () => {
  for (const bad of ['http://h:1', 'redis://', 'redis://h:notaport', 'redis://h1:1,,h2:2', 'redis://h:70000'])
    assert.throws(() => parseRedisUrl(bad), RangeError, bad);
  assert.throws(
    () => parseRedisUrl('redis//:hunter2@h'),
    (error: Error) => !error.message.includes('hunter2'),
  );
});
