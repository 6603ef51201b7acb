// A node:test reporter that counts test cases (not suites) and writes one JSON line.
export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  for await (const event of source) {
    const type = event.data?.details?.type;
    if (type === 'suite') continue;
    if (event.type === 'test:pass' && !event.data.skip && !event.data.todo) passed += 1;
    if (event.type === 'test:fail') failed += 1;
  }
  yield `${JSON.stringify({ passed, failed })}\n`;
}
