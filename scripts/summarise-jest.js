// Prints the closing line CI reads: "N passed, N failed, N skipped". A suite that failed to run
// (compile error, failing beforeAll with no tests) counts as one failure.
const fs = require('node:fs');
const file = process.argv[2];
if (!fs.existsSync(file)) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const r = JSON.parse(fs.readFileSync(file, 'utf8'));
const brokenSuites = r.testResults.filter((s) => s.status === 'failed' && s.assertionResults.every((a) => a.status !== 'failed')).length;
const failed = r.numFailedTests + brokenSuites;
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
