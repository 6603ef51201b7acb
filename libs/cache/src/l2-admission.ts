/**
 * Whether a key this process has never seen should go to L2 at all, learnt from what
 * such probes found. A key the frequency sketch has no count for is either new to the
 * whole system (then the L2 GET is a sure miss and the write after the load is for
 * nobody: with unique contexts, measured, ~20% of the auth-service's CPU on new
 * decisions went to those Redis commands) or hot at another instance (then L2 saves a
 * load). Which case prevails is measured, not assumed: first-seen keys are probed while
 * their L2 hit rate is at least {@link MIN_HIT_RATE}; below it only every
 * {@link SAMPLE_EVERY}th is, so a change back is noticed, and the rest skip L2 both ways
 * (read and write-behind: the loaded value stays in L1 only). A key asked again is then
 * written to L2 at its first L1 hit (or goes through L2 as usual if L1 let it go), so a
 * key asked twice anywhere reaches L2 and other instances' samples find it.
 */
export class FirstSeenAdmission {
  readonly #learn: boolean;
  #probes = 0;
  #hits = 0;
  #sinceSample = 0;
  /** First-seen reads that skipped L2. */
  skipped = 0;

  /** `learn: false` probes every key (the plain two-level cache). */
  constructor(learn: boolean) {
    this.#learn = learn;
  }

  /** Whether a first-seen key's read (and its write after the load) should use L2. */
  shouldProbe(): boolean {
    if (!this.#learn || this.#probes < MIN_PROBES || this.#hits >= this.#probes * MIN_HIT_RATE) return true;
    this.#sinceSample += 1;
    if (this.#sinceSample >= SAMPLE_EVERY) {
      this.#sinceSample = 0;
      return true;
    }
    this.skipped += 1;
    return false;
  }

  /** What a first-seen key's L2 probe found. The tally halves past {@link WINDOW}, so it follows change. */
  observe(hit: boolean): void {
    this.#probes += 1;
    if (hit) this.#hits += 1;
    if (this.#probes >= WINDOW) {
      this.#probes /= 2;
      this.#hits /= 2;
    }
  }
}

/**
 * Below this L2 hit rate of first-seen keys, probing them costs more than it saves: a
 * probe is one GET (~30–50 µs of CPU across the client and Redis), a hit saves a load (a
 * policy decision, ~1 ms across processes), so 5% is about where they break even.
 */
export const MIN_HIT_RATE = 0.05;
/** Probes observed before any is skipped. */
export const MIN_PROBES = 64;
/** While skipping, one first-seen key in this many is still probed. */
export const SAMPLE_EVERY = 32;
/** Observations the hit rate is taken over (older ones weigh half at each halving). */
export const WINDOW = 1024;
