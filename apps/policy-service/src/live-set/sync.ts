import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { PolicyUpdatedEvent, PortcullisError, TOPICS } from '@portcullis/contracts';
import type { MessageBus } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';
import { isNotReplicated } from '@portcullis/redis';
import { compileBundle, type BundleSource, type PolicyBundle } from '../engine/bundle.ts';
import { PolicyInvalidError } from '../engine/errors.ts';
import type { Evaluator } from '../engine/evaluator.ts';
import type { FilesMark, LiveSetStore, StoredLiveSet } from './store.ts';

/** `PUT /policies` changed nothing: the shared store could not take the new set. */
export class PolicyStoreUnavailableError extends PortcullisError {
  static override readonly code = 'E_POLICY_STORE_UNAVAILABLE';
}

/** What {@link LiveSetSync} reads POLICY_DIR with. */
export type ReadFiles = () => Promise<{ source: BundleSource; changedAtMs: number }>;

/** Newer files replace the stored set: other content, changed later than the stored set's files. */
const filesAreNewer = (files: FilesMark, stored: StoredLiveSet | undefined): boolean =>
  stored?.files === undefined || (files.version !== stored.files.version && files.changedAtMs > stored.files.changedAtMs);

/**
 * Keeps every replica on one live policy set. With a store (Redis), the set lives there:
 * a `PUT /policies` is stored before it goes live, and each replica loads what is stored
 * when told (`policy.updated`) or when its poll sees the revision move. POLICY_DIR seeds
 * the store and replaces what is stored only when it is newer: other content, changed
 * later than the files the stored set was built on. So a replica that restarts or scales
 * out with the same files serves the set a PUT made, a rollout with new files replaces
 * it, and a replica left with older files mid-rollout serves the stored set, not its own.
 * Without a store (no REDIS_URL) the replica serves its files and its PUTs, alone.
 * Every change runs one at a time. Emits `live` (the bundle, and its stored revision or
 * -1) each time another version goes live here.
 */
export class LiveSetSync extends EventEmitter<{ live: [PolicyBundle, number] }> {
  readonly #evaluator: Evaluator;
  readonly #store: LiveSetStore | undefined;
  readonly #readFiles: ReadFiles;
  readonly #log: Logger;
  #files: { bundle: PolicyBundle; mark: FilesMark } | undefined;
  /** The stored revision live here: 0 before any, -1 when the files went live without the store. */
  #applied = 0;
  #storeDown = false;
  #turn: Promise<unknown> = Promise.resolve();

  constructor(options: { evaluator: Evaluator; store: LiveSetStore | undefined; readFiles: ReadFiles; log: Logger }) {
    super();
    this.#evaluator = options.evaluator;
    this.#store = options.store;
    this.#readFiles = options.readFiles;
    this.#log = options.log;
  }

  /** Reads POLICY_DIR (at start, after a file change) and settles which set is live. Never throws. */
  filesChanged(reason: string): Promise<void> {
    return this.#exclusive(async () => {
      try {
        const { source, changedAtMs } = await this.#readFiles();
        const bundle = compileBundle(source);
        this.#files = { bundle, mark: { version: bundle.version, changedAtMs } };
      } catch (error) {
        const details = error instanceof PolicyInvalidError ? error.details : { message: (error as Error).message };
        this.#log.error({ reason, details }, 'could not load policies; keeping the live set');
        // A replica with broken files still serves what the others stored.
        if (this.#store === undefined || this.#evaluator.bundle !== undefined) return;
      }
      if (this.#store === undefined) {
        if (this.#files !== undefined) this.#install(this.#files.bundle, reason, 'files');
        return;
      }
      await this.#reconcile(this.#store, reason, true);
    });
  }

  /** Loads the stored set when its revision moved (told of an update, or polling). Never throws. */
  refresh(reason: string): Promise<void> {
    const store = this.#store;
    if (store === undefined) return Promise.resolve();
    return this.#exclusive(async () => {
      let revision: number;
      try {
        revision = await store.revision();
      } catch (error) {
        this.#storeFailed(error, reason, false);
        return;
      }
      if (revision !== this.#applied) await this.#reconcile(store, reason, false);
    });
  }

  /**
   * `PUT /policies`: compiles `source`, stores it as every replica's live set, then makes
   * it live here. Throws {@link PolicyInvalidError} (nothing changed) or
   * {@link PolicyStoreUnavailableError}. A set the master stored but no replica
   * acknowledged goes ahead: every replica reads the master.
   */
  put(source: BundleSource): Promise<PolicyBundle> {
    return this.#exclusive(async () => {
      const bundle = compileBundle(source);
      const revision = this.#store === undefined ? -1 : await this.#storeOverCurrent(this.#store, bundle);
      this.#makeLive(bundle, revision);
      return bundle;
    });
  }

  /**
   * Stores `bundle` over the revision it reads first (compare-and-set), so a write held up
   * in a Redis client's queue (Redis away; answered 503 meanwhile) is refused if a newer
   * set landed first instead of replacing it later. Resolves to the new revision, -1
   * when it is on the master only.
   */
  async #storeOverCurrent(store: LiveSetStore, bundle: PolicyBundle): Promise<number> {
    for (let turn = 0; turn < 3; turn += 1) {
      try {
        const revision = await store.write(bundle, { origin: 'api', files: this.#files?.mark, ifRevision: await store.revision() });
        if (revision !== undefined) return revision;
      } catch (error) {
        if (!isNotReplicated(error))
          throw new PolicyStoreUnavailableError(
            'the shared policy store did not confirm the new set: it is live nowhere, or soon everywhere if the write was ' +
              'still on its way (never over a newer set); GET /policies tells which, and sending the same PUT again is safe',
            { cause: error },
          );
        this.#log.warn({ err: error, version: bundle.version }, 'policies stored on the master only');
        return -1;
      }
    }
    throw new PolicyStoreUnavailableError('the live set kept changing while this one was stored; nothing changed, try again');
  }

  /** Calls {@link refresh} every `everyMs` until `signal` stops it: the backstop for a missed `policy.updated`. */
  async follow(everyMs: number, signal: AbortSignal): Promise<void> {
    while (await sleep(everyMs, true, { signal, ref: false }).catch(() => false)) await this.refresh('poll');
  }

  async #reconcile(store: LiveSetStore, reason: string, filesMayGoLive: boolean): Promise<void> {
    // Two turns at most lose a compare-and-set to another replica's write; a third reads
    // a set no longer moving.
    for (let turn = 0; turn < 3; turn += 1) {
      let stored: StoredLiveSet | undefined;
      try {
        stored = await store.read();
        this.#storeDown = false;
        const files = this.#files;
        if (files !== undefined && filesAreNewer(files.mark, stored)) {
          const revision = await store.write(files.bundle, { origin: 'files', files: files.mark, ifRevision: stored?.revision ?? 0 });
          if (revision === undefined) continue;
          this.#install(files.bundle, reason, 'files', revision);
          return;
        }
      } catch (error) {
        this.#storeFailed(error, reason, filesMayGoLive);
        return;
      }
      if (stored !== undefined) this.#installStored(stored, reason);
      return;
    }
  }

  #installStored(stored: StoredLiveSet, reason: string): void {
    // The set live here or this replica's files, already compiled (at start, the stored
    // set is most often the files; after a PUT elsewhere of what is live, the same set).
    const known = [this.#evaluator.bundle, this.#files?.bundle].find((bundle) => bundle?.version === stored.version);
    let bundle: PolicyBundle;
    try {
      bundle = known ?? compileBundle(stored.source);
    } catch (error) {
      // Stored by a replica whose Cedar took it (another release, mid-upgrade): keep ours.
      this.#applied = stored.revision;
      this.#log.error(
        { err: error, version: stored.version, revision: stored.revision },
        'the stored live set does not compile here; keeping the live set',
      );
      // Nothing live yet: serve the files rather than nothing, until another set is stored.
      if (this.#evaluator.bundle === undefined && this.#files !== undefined)
        this.#install(this.#files.bundle, reason, 'files', stored.revision);
      return;
    }
    this.#install(bundle, reason, stored.origin, stored.revision);
  }

  /** Makes `bundle` live here; says whether its version is another than the one that was. */
  #makeLive(bundle: PolicyBundle, revision: number): boolean {
    const changed = this.#evaluator.bundle?.version !== bundle.version;
    this.#evaluator.install(bundle);
    this.#applied = revision;
    if (changed) this.emit('live', bundle, revision);
    return changed;
  }

  #install(bundle: PolicyBundle, reason: string, origin: 'api' | 'files', revision = -1): void {
    if (this.#makeLive(bundle, revision))
      this.#log.info(
        { version: bundle.version, policies: bundle.policyIds.length, entities: bundle.slicer.size, reason, origin, revision },
        'policies loaded',
      );
  }

  // Redis away (or what it holds unreadable): a replica whose files just changed (or that
  // serves nothing yet) serves them until the store is back, as it would without Redis;
  // the next poll settles it. Logged once per outage.
  #storeFailed(error: unknown, reason: string, filesMayGoLive: boolean): void {
    if (!this.#storeDown) this.#log.warn({ err: error, reason }, 'cannot read the shared live set; trying again at the next poll');
    this.#storeDown = true;
    if (filesMayGoLive && this.#files !== undefined) this.#install(this.#files.bundle, reason, 'files', -1);
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#turn.then(work);
    this.#turn = result.catch(() => undefined);
    return result;
  }
}

/**
 * Every replica (broadcast) hears `policy.updated`, so another replica's change (a PUT,
 * newer files) goes live here at once rather than at the next poll. The payload is only a
 * hint: what goes live is read from the store, so a forged event costs one read. Invalid
 * payloads are dead-lettered by the bus.
 */
export async function followPolicyUpdates(
  bus: MessageBus,
  evaluator: Pick<Evaluator, 'bundle'>,
  liveSet: Pick<LiveSetSync, 'refresh'>,
): Promise<void> {
  await bus.subscribe<PolicyUpdatedEvent>(
    TOPICS.policyUpdated.topic,
    (message) => (message.payload.version === evaluator.bundle?.version ? undefined : liveSet.refresh('policy.updated')),
    { mode: 'broadcast', group: 'policy-service', parse: (payload) => PolicyUpdatedEvent.parse(payload) },
  );
}
