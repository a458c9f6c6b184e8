// Secrets used by tests. Each contains the marker below; scripts/run-tests.mjs greps every
// output of the test run (stdout, stderr, logs, store files) for the marker and fails the run
// if one leaks. Build test secrets with testSecret() so the check covers them.
export const SECRET_MARKER = 'pcsTESTsecret';

export function testSecret(label: string): string {
  return `${SECRET_MARKER}-${label}-7f3a9c`;
}

export const DB_PASSWORD = testSecret('db-password');
export const API_TOKEN = testSecret('api-token');
export const SSH_KEY_PASSPHRASE = testSecret('ssh-passphrase');
