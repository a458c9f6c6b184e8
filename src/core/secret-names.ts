// Field names that only ever hold secrets. The audit log refuses events carrying them and the
// recorder redacts them: one list, so the two cannot drift apart.

/** Lower case, with `-` and `_` removed: `private_key`, `Private-Key` and `privateKey` all match. */
const SECRET_NAMES = new Set(['password', 'passphrase', 'secret', 'clientsecret', 'token', 'accesstoken', 'refreshtoken', 'apikey', 'privatekey', 'authorization']);

/** Answers by name: events repeat the same few keys, and normalising each one per event showed in profiles. */
const memo = new Map<string, boolean>();
const MEMO_ENTRIES = 4096;
const MEMO_KEY_LENGTH = 64;

export function isSecretFieldName(key: string): boolean {
  let secret = memo.get(key);
  if (secret !== undefined) return secret;
  secret = SECRET_NAMES.has(key.toLowerCase().replace(/[-_]/g, ''));
  if (key.length <= MEMO_KEY_LENGTH) {
    if (memo.size >= MEMO_ENTRIES) memo.clear();
    memo.set(key, secret);
  }
  return secret;
}
