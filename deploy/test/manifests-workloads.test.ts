// Each rendering's workloads (deploy/base and every overlay) against deploy/deploy.sh and the
// services' source: the mistakes that kubectl accepts and a cluster only shows at run time (a
// typo in an env var name, a probe on a path that does not exist, a selector that overlaps, a
// secret key the deploy script never creates), canary parity, hardening and termination grace.
// The apps are read as text, never imported; the renderings are _manifests.ts's.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import {
  containersOf,
  deployScript,
  keysIn,
  matches,
  podLabels,
  podSpec,
  read,
  root,
  secretKeys,
  secretName,
  THIRD_PARTY_ENV,
  TRACING_KEYS,
  views,
  type Doc,
  type Obj,
} from './_manifests.ts';

for (const v of views) {
  test(`${v.name}: every env var a Portcullis container sets is one its config.ts or TRACING_ENV reads`, () => {
    assert.ok(TRACING_KEYS.has('OTEL_EXPORTER_OTLP_ENDPOINT') && TRACING_KEYS.has('OTEL_TRACES_SAMPLER_ARG'));
    for (const { c, where } of v.allContainers) {
      const app = /^ghcr\.io\/portcullis\/([a-z-]+):/.exec(c.image)?.[1];
      const repo = String(c.image).split(':')[0]!;
      let known: Set<string>;
      if (app !== undefined) {
        assert.ok(existsSync(join(root, 'apps', app, 'src/config.ts')), `${where}: apps/${app}/src/config.ts exists`);
        known = new Set([...keysIn(read(`apps/${app}/src/config.ts`)), ...TRACING_KEYS]);
        assert.ok(known.has('LOG_LEVEL'), `the config.ts key pattern still finds apps/${app}'s keys`);
      } else {
        assert.ok(THIRD_PARTY_ENV[repo], `${where}: image ${c.image} is listed in THIRD_PARTY_ENV`);
        known = new Set(THIRD_PARTY_ENV[repo]);
      }
      const names = (c.env ?? []).map((e: Obj) => e.name as string);
      for (const name of names) assert.ok(known.has(name), `${where}: ${name} is read by nothing`);
      // Kubernetes leaves an unknown $(VAR) as literal text: redis would get "$(REDIS_PASSWORD)" as its password.
      for (const arg of [...(c.command ?? []), ...(c.args ?? [])]) {
        for (const m of String(arg).matchAll(/\$\(([A-Z0-9_]+)\)/g))
          assert.ok(names.includes(m[1]!), `${where}: ${arg} refers to an env var it sets`);
      }
    }
  });

  test(`${v.name}: probes use /alive, /ready or /health on a declared port; liveness never on /ready`, () => {
    let seen = 0;
    for (const { c, where } of v.allContainers) {
      const portNames = (c.ports ?? []).map((p: Obj) => p.name);
      const portNumbers = (c.ports ?? []).map((p: Obj) => p.containerPort);
      for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const get = c[kind]?.httpGet;
        if (!get) continue;
        seen++;
        assert.ok(['/alive', '/ready', '/health'].includes(get.path), `${where} ${kind}: ${get.path} is not a probe route`);
        // /ready turns 503 while Redis or the policy-service is away: restarting for that would make it worse.
        if (kind !== 'readinessProbe') assert.equal(get.path, '/alive', `${where} ${kind} must use /alive`);
        assert.ok(portNames.includes(get.port) || portNumbers.includes(get.port), `${where} ${kind}: port ${get.port} is declared`);
      }
    }
    assert.ok(seen >= 12, 'the HTTP probes were found');
  });

  test(`${v.name}: every workload selector matches its own pod labels and no other workload`, () => {
    for (const w of v.workloads) {
      const selector = w.body.spec.selector.matchLabels;
      assert.ok(matches(selector, podLabels(w)), `${w.kind}/${w.name}: selector matches its pod labels`);
      assert.deepEqual(
        v.selectedBy(selector).map((o) => o.name),
        [w.name],
        `${w.kind}/${w.name}: selector overlaps another workload`,
      );
    }
  });

  test(`${v.name}: Services select pods whose containers have the target ports, with Istio protocol names`, () => {
    const protocols = /^(http|http2|https|grpc|grpc-web|tcp|tls|mongo|mysql|redis|udp)(-|$)/;
    for (const svc of v.ofKind('Service')) {
      const pods = v.selectedBy(svc.body.spec.selector);
      assert.ok(pods.length > 0, `Service/${svc.name} selects some pods`);
      for (const port of svc.body.spec.ports) {
        assert.match(port.appProtocol ?? port.name, protocols, `Service/${svc.name} port ${port.name}: Istio would treat it as opaque TCP`);
        for (const w of pods) {
          const ok = containersOf(w).some((c) =>
            (c.ports ?? []).some((p: Obj) => p.name === port.targetPort || p.containerPort === port.targetPort),
          );
          assert.ok(ok, `Service/${svc.name} targetPort ${port.targetPort} exists on ${w.kind}/${w.name}`);
        }
      }
    }
  });

  test(`${v.name}: http:// and redis:// addresses name an existing Service and port`, () => {
    const addresses = [
      ...v.allContainers.flatMap(({ c, where }) =>
        (c.env ?? [])
          .filter((e: Obj) => typeof e.value === 'string')
          .map((e: Obj) => ({ value: e.value as string, where: `${where} ${e.name}` })),
      ),
      // The redis-url deploy.sh writes names the in-cluster Redis; with a Redis elsewhere, the operator sets it.
      ...(v.inClusterRedis ? [...deployScript.matchAll(/redis:\/\/[^'"\s]*/g)].map((m) => ({ value: m[0], where: 'deploy.sh' })) : []),
    ];
    let checked = 0;
    for (const { value, where } of addresses) {
      const m = /^(?:https?|rediss?):\/\/(?:[^@/]*@)?([a-z0-9-]+):(\d+)/.exec(value);
      if (!m || m[1]!.includes('.')) continue;
      checked++;
      const svc = v.find('Service', m[1]!);
      assert.ok(svc, `${where}: Service ${m[1]} exists`);
      assert.ok(
        svc.body.spec.ports.some((p: Obj) => p.port === Number(m[2])),
        `${where}: Service ${m[1]} has port ${m[2]}`,
      );
    }
    assert.ok(checked >= (v.inClusterRedis ? 3 : 2), 'POLICY_URL and the redis-url were checked');
  });

  test(`${v.name}: *_FILE and *_DIR variables point into a mounted volume (and at a projected key)`, () => {
    for (const { w, c, where } of v.allContainers) {
      for (const e of c.env ?? []) {
        if (!/_(FILE|DIR)$/.test(e.name) || typeof e.value !== 'string') continue;
        const mount = (c.volumeMounts ?? []).find((m: Obj) => e.value === m.mountPath || e.value.startsWith(`${m.mountPath}/`));
        assert.ok(mount, `${where}: ${e.name}=${e.value} is inside a volume mount`);
        const volume = podSpec(w).volumes.find((vol: Obj) => vol.name === mount.name);
        const items = volume?.secret?.items ?? volume?.configMap?.items;
        if (e.name.endsWith('_FILE') && items) {
          assert.ok(
            items.some((i: Obj) => i.path === relative(mount.mountPath, e.value)),
            `${where}: ${e.name} names a projected key`,
          );
        }
      }
    }
  });

  test(`${v.name}: every secret reference is a key deploy.sh creates, and it creates none that is unused`, () => {
    assert.ok(secretName && secretKeys.length > 0, 'deploy.sh declares SECRET and SECRET_KEYS');
    const used = new Set<string>();
    for (const { w, c, where } of v.allContainers) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        assert.equal(ref.name, secretName, `${where} ${e.name}`);
        assert.ok(secretKeys.includes(ref.key), `${where} ${e.name}: deploy.sh does not create key ${ref.key}`);
        used.add(ref.key);
      }
      for (const vol of podSpec(w).volumes ?? []) {
        if (!vol.secret) continue;
        assert.equal(vol.secret.secretName, secretName, `${w.name} volume ${vol.name}`);
        for (const item of vol.secret.items ?? []) {
          assert.ok(secretKeys.includes(item.key), `${w.name} volume ${vol.name}: deploy.sh does not create key ${item.key}`);
          used.add(item.key);
        }
      }
    }
    for (const key of secretKeys) {
      // redis-password is only the in-cluster Redis's (and part of the redis-url deploy.sh builds).
      if (v.inClusterRedis || key !== 'redis-password') assert.ok(used.has(key), `deploy.sh creates ${key}, which nothing uses`);
      assert.match(deployScript, new RegExp(`^\\s+${key}\\)`, 'm'), `deploy.sh generates a value for ${key}`);
    }
  });

  test(`${v.name}: HPAs and PDBs point at existing workloads`, () => {
    for (const hpa of v.ofKind('HorizontalPodAutoscaler')) {
      const target = hpa.body.spec.scaleTargetRef;
      assert.ok(v.find(target.kind, target.name), `HPA/${hpa.name} targets ${target.kind}/${target.name}`);
    }
    for (const pdb of v.ofKind('PodDisruptionBudget')) {
      assert.ok(v.selectedBy(pdb.body.spec.selector.matchLabels).length > 0, `PDB/${pdb.name} selects some pods`);
    }
  });

  test(`${v.name}: a canary Deployment has the stable pod spec, apart from its image and version label`, () => {
    const canaries = v.ofKind('Deployment').filter((d) => d.name.endsWith('-canary'));
    assert.ok(canaries.length >= 2);
    for (const canary of canaries) {
      const stable = v.find('Deployment', canary.name.replace(/-canary$/, ''));
      assert.ok(stable, `${canary.name} has a stable Deployment`);
      const strip = (d: Doc): Obj => {
        const template = structuredClone(d.body.spec.template);
        delete template.metadata.labels.version;
        for (const c of template.spec.containers) delete c.image;
        return template;
      };
      assert.deepEqual(strip(canary), strip(stable), `${canary.name} drifted from ${stable.name}`);
      assert.notEqual(podLabels(canary).version, podLabels(stable).version);
    }
  });

  test(`${v.name}: containers run hardened: non-root, read-only root, no privilege escalation, no capabilities`, () => {
    for (const { w, c, where } of v.allContainers) {
      const pod = podSpec(w).securityContext ?? {};
      const own = c.securityContext ?? {};
      assert.equal(own.runAsNonRoot ?? pod.runAsNonRoot, true, `${where}: runAsNonRoot`);
      assert.equal((own.seccompProfile ?? pod.seccompProfile)?.type, 'RuntimeDefault', `${where}: seccomp`);
      assert.equal(own.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
      assert.equal(own.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
      assert.deepEqual(own.capabilities?.drop, ['ALL'], `${where}: drop ALL capabilities`);
      assert.ok(c.resources?.limits?.memory && c.resources?.requests?.cpu, `${where}: resources`);
    }
  });

  test(`${v.name}: both services keep serving 5 s after being told to stop, while endpoints and sidecars learn of it`, () => {
    for (const w of v.ofKind('Deployment').filter((d) => /^(auth|policy)-service(-canary)?$/.test(d.name)))
      for (const c of containersOf(w))
        assert.ok((c.lifecycle?.preStop?.sleep?.seconds ?? 0) >= 5, `${w.name} container ${c.name}: preStop sleep of at least 5 s`);
  });

  test(`${v.name}: termination grace covers preStop plus http-kit's SIGTERM drain deadline`, () => {
    const source = read('libs/http-kit/src/service.ts');
    // Literals in drainOnSignals, or the constants it uses.
    const drainMs = (/DRAIN_TIMEOUT_MS = ([\d_]+)/.exec(source) ?? /timeoutMs \?\? ([\d_]+)/.exec(source))?.[1];
    const hardStopMs = (/DRAIN_HARD_STOP_MS = ([\d_]+)/.exec(source) ?? /timeoutMs \+ ([\d_]+)/.exec(source))?.[1];
    assert.ok(drainMs && hardStopMs, 'drain and hard-stop deadlines found in libs/http-kit/src/service.ts');
    const drainSec = (Number(drainMs.replaceAll('_', '')) + Number(hardStopMs.replaceAll('_', ''))) / 1000;
    for (const w of v.workloads.filter((o) => containersOf(o).some((c) => c.image.startsWith('ghcr.io/portcullis/')))) {
      const preStop = Math.max(0, ...containersOf(w).map((c) => c.lifecycle?.preStop?.sleep?.seconds ?? 0));
      const grace = podSpec(w).terminationGracePeriodSeconds ?? 30;
      assert.ok(grace >= preStop + drainSec, `${w.name}: grace ${grace}s < preStop ${preStop}s + drain ${drainSec}s`);
    }
  });
}
