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

test('with a replica each, a killed master is replaced by its replica and rejoins when restarted', async () => {
  const cluster = await startRedisCluster(3, { replicas: 1 });
  try {
    const before = await cluster.masters();
    assert.equal(before.length, 3);
    const victim = before[0] as number;
    await cluster.stop(victim, 'SIGKILL');
    // Failover needs the node timeout (2 s) and an election; each node's view converges by gossip.
    await cluster.waitUntilOk();
    let promoted: number[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
      promoted = await cluster.masters();
      if (promoted.length === 3 && !promoted.includes(victim)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(promoted.length, 3, 'three masters again');
    assert.ok(!promoted.includes(victim), "a replica took the killed master's slots");
    await cluster.restart(victim);
    await cluster.waitUntilOk();
    const { stdout } = await run('redis-cli', ['-p', String(victim), 'role']);
    assert.match(stdout, /^slave/, 'the old master came back as a replica');
  } finally {
    await cluster.close();
  }
});

test('a command that is not installed is reported, not an unhandled crash', async () => {
  const { startProcess } = await import('../src/index.ts');
  await assert.rejects(startProcess({ command: 'portcullis-no-such-binary', readyWhen: /never/ }), /spawn failed: .*ENOENT/);
});
