import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startRedisCluster, startRedisServer } from '../src/index.ts';

const run = promisify(execFile);

test('startRedisServer gives a live server that survives a restart on the same port', async () => {
  const redis = await startRedisServer();
  try {
    await run('redis-cli', ['-p', String(redis.port), 'set', 'k', 'v']);
    await redis.restart();
    const { stdout } = await run('redis-cli', ['-p', String(redis.port), 'ping']);
    assert.equal(stdout.trim(), 'PONG');
    const after = await run('redis-cli', ['-p', String(redis.port), 'get', 'k']);
    assert.equal(after.stdout.trim(), '', 'persistence is off, so a restart starts empty');
  } finally {
    await redis.close();
  }
});

test('startRedisCluster joins three masters covering all slots', async () => {
  const cluster = await startRedisCluster(3);
  try {
    const first = cluster.nodes[0];
    assert.ok(first);
    const { stdout } = await run('redis-cli', ['-p', String(first.port), 'cluster', 'info']);
    assert.match(stdout, /cluster_slots_assigned:16384/);
    assert.match(stdout, /cluster_known_nodes:3/);
  } finally {
    await cluster.close();
  }
});

test('a command that is not installed is reported, not an unhandled crash', async () => {
  const { startProcess } = await import('../src/index.ts');
  await assert.rejects(startProcess({ command: 'portcullis-no-such-binary', readyWhen: /never/ }), /spawn failed: .*ENOENT/);
});
