// A LocalIssuer over a fresh SQLite file and vault, as the gateway opens it.
import { join } from 'node:path';
import type { LocalIssuerConfig } from '../../../src/config/schema.ts';
import { LocalIssuer } from '../../../src/identity/local-issuer.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { loadMasterKey } from '../../../src/vault/master-key.ts';
import { Vault } from '../../../src/vault/vault.ts';
import { tempDir } from '../../support/tmp.ts';
import { MemoryAudit } from './audit.ts';

export const LOCAL_CONFIG: LocalIssuerConfig = { issuer: 'portcullis-test', audience: 'portcullis', default_ttl: 900, max_ttl: 3600 };

export interface LocalFixture {
  readonly dir: string;
  readonly dbFile: string;
  readonly store: Store;
  readonly vault: Vault;
  readonly audit: MemoryAudit;
  readonly issuer: LocalIssuer;
}

/** Open (or re-open, when `dir` is given) a store, vault and issuer in `dir`. */
export async function openLocal(dir = tempDir('pcs-identity-'), config: LocalIssuerConfig = LOCAL_CONFIG): Promise<LocalFixture> {
  const dbFile = join(dir, 'portcullis.db');
  const store = await openStore(`sqlite:${dbFile}`);
  // An empty env: a PORTCULLIS_MASTER_KEY in the developer's shell must not leak into tests.
  const vault = new Vault(loadMasterKey({ file: join(dir, 'master.key'), generateIfMissing: true, env: {} }));
  const audit = new MemoryAudit();
  const issuer = await LocalIssuer.open({ store, vault, config, audit });
  return { dir, dbFile, store, vault, audit, issuer };
}
