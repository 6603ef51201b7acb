/**
 * 32-bit FNV-1a over UTF-16 code units. Cheap enough for every read (~1 ns a character)
 * and spreads keys that differ in one character, which is all a count-min sketch needs.
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Murmur3's finalizer: derives an independent second hash for double hashing. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const DEPTH = 4;
const MAX_COUNT = 255;

/**
 * A count-min sketch of access frequency with periodic aging, as TinyLFU uses: memory is
 * fixed at construction (4 rows of byte counters, about 16 bytes per tracked entry) no
 * matter how many distinct keys pass through, and after every `window` increments all
 * counters are halved so that yesterday's hot keys cool down.
 *
 * Conservative update (only the rows holding the minimum are incremented) keeps the
 * over-estimation of rare keys low, which is what admission decisions compare.
 */
export class FrequencySketch {
  readonly #table: Uint8Array;
  readonly #mask: number;
  readonly #width: number;
  readonly #window: number;
  #additions = 0;
  #resets = 0;

  /**
   * @param capacity the number of entries whose frequency matters (the L1 size)
   * @param windowFactor increments between agings, as a multiple of `capacity`
   */
  constructor(capacity: number, windowFactor = 128) {
    let width = 64;
    while (width < capacity * 4) width *= 2;
    this.#width = width;
    this.#mask = width - 1;
    this.#table = new Uint8Array(width * DEPTH);
    this.#window = Math.max(1, capacity * windowFactor);
  }

  /** Bytes held by the counters: constant for the sketch's life. */
  get bytes(): number {
    return this.#table.byteLength;
  }

  /** How many times the counters were halved. */
  get resets(): number {
    return this.#resets;
  }

  /** Records one access of the key with hash `hash`; returns its new estimate. */
  increment(hash: number): number {
    const h2 = mix(hash) | 1;
    let min = MAX_COUNT;
    for (let row = 0; row < DEPTH; row += 1) {
      const value = this.#table[row * this.#width + ((hash + row * h2) & this.#mask)] ?? 0;
      if (value < min) min = value;
    }
    if (min < MAX_COUNT) {
      for (let row = 0; row < DEPTH; row += 1) {
        const index = row * this.#width + ((hash + row * h2) & this.#mask);
        if (this.#table[index] === min) this.#table[index] = min + 1;
      }
      min += 1;
    }
    this.#additions += 1;
    if (this.#additions >= this.#window) this.#age();
    return min;
  }

  /** The estimated access count of the key with hash `hash` in the current window. */
  estimate(hash: number): number {
    const h2 = mix(hash) | 1;
    let min = MAX_COUNT;
    for (let row = 0; row < DEPTH; row += 1) {
      const value = this.#table[row * this.#width + ((hash + row * h2) & this.#mask)] ?? 0;
      if (value < min) min = value;
    }
    return min;
  }

  #age(): void {
    for (let i = 0; i < this.#table.length; i += 1) this.#table[i] = (this.#table[i] ?? 0) >>> 1;
    this.#additions = Math.floor(this.#additions / 2);
    this.#resets += 1;
  }
}
