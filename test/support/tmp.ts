// Temporary folders for tests, under PORTCULLIS_TEST_TMP when the test runner sets it (so the
// runner can scan everything the tests wrote for leaked secrets), removed only by the runner.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'pcs-'): string {
  return mkdtempSync(join(process.env.PORTCULLIS_TEST_TMP ?? tmpdir(), prefix));
}
