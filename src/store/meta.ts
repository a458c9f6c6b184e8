// Small key/value settings that belong to the deployment, not to a config file (generated key
// material sealed by the vault, for instance).
import type { Store } from './store.ts';

export async function getMeta(store: Store, key: string): Promise<string | undefined> {
  const row = await store.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

/** Insert `value` unless the key exists; returns the value that is stored (first writer wins). */
export async function putMetaIfAbsent(store: Store, key: string, value: string): Promise<string> {
  await store.db.insertInto('meta').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()).execute();
  return (await getMeta(store, key)) ?? value;
}
