// Request bodies the k6 scripts share, drawn as `npm run perf` draws them
// (perf/bench/src/suite/targets.ts).

/** Zipf(1.0) over 60 resources (40 documents, then 20 photos). */
/** @type {number[]} */
const CUMULATIVE = [];
for (let k = 1, sum = 0; k <= 60; k++) CUMULATIVE.push((sum += 1 / k));
const TOTAL = /** @type {number} */ (CUMULATIVE[CUMULATIVE.length - 1]);
const ACTIONS = ['edit', 'delete', 'share'];

/**
 * One request of the realistic mix: Zipf-distributed resources, 90 % views.
 * @param {() => number} random a uniform draw in [0,1)
 */
export function mixBody(random) {
  const rank = CUMULATIVE.findIndex((c) => c >= random() * TOTAL);
  const resource = rank < 40 ? { type: 'Document', id: `doc-${rank + 1}` } : { type: 'Photo', id: `photo-${rank - 39}.jpg` };
  const action = random() < 0.9 ? 'view' : ACTIONS[Math.floor(random() * ACTIONS.length)];
  return { action, resource };
}
