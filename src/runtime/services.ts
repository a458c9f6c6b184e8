// Opens the pipeline's shared services from a validated configuration. The gateway (`start`)
// and the local CLI commands (`token issue`, `credential set`, `audit verify`...) both use it,
// so they see the same store, keys and audit chain.
import { RelayService } from '../relay/service.ts';
import { join } from 'node:path';
import { auditCheckpointSettings, type Config } from '../config/schema.ts';
import { AuditLog } from '../audit/audit-log.ts';
import { openWitnesses } from '../audit/witness/open.ts';
import { LocalIssuer } from '../identity/local-issuer.ts';
import { createAuthenticator, type Authenticator } from '../identity/authenticator.ts';
import { SamlExchange } from '../identity/saml.ts';
import { SshKeyService } from '../identity/ssh-keys.ts';
import { compilePolicies, type CompiledPolicies } from '../policy/compile.ts';
import { openStore, type Store } from '../store/store.ts';
import { loadMasterKey, type MasterKey } from '../vault/master-key.ts';
import { Vault } from '../vault/vault.ts';
import { CredentialStore } from '../vault/credentials.ts';
import type { Logger } from '../telemetry/logger.ts';
import { MaskPlanner } from '../masking/plan.ts';
import { Notifier } from '../notify/notifier.ts';
import { ReviewService } from '../reviews/service.ts';
import { resolveMaskHashKey } from '../masking/hash-key.ts';

export interface Services {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly masterKey: Pick<MasterKey, 'id' | 'source' | 'generated'>;
  readonly vault: Vault;
  readonly audit: AuditLog;
  readonly localIssuer: LocalIssuer;
  readonly authenticator: Authenticator;
  readonly saml: SamlExchange;
  /** Public keys registered for subjects (SSH logins by key). */
  readonly sshKeys: SshKeyService;
  readonly credentials: CredentialStore;
  /** Relays: registrations and the tunnels connected now (docs/relay.md). */
  readonly relays: RelayService;
  readonly policies: CompiledPolicies;
  /** Mask plans with the deployment's hash key (configured, or derived from the master key). */
  readonly masks: MaskPlanner;
  readonly notifier: Notifier;
  /** Reviews of held actions and just-in-time access requests. */
  readonly reviews: ReviewService;
  close(): Promise<void>;
}

export function masterKeyFile(config: Config): string {
  return config.vault.master_key_file ?? join(config.data_dir, 'master.key');
}

export function auditKeyFile(config: Config): string {
  return config.audit.signing_key_file ?? join(config.data_dir, 'keys', 'audit-ed25519.pem');
}

export async function openServices(config: Config, logger: Logger): Promise<Services> {
  const master = loadMasterKey({ file: masterKeyFile(config), generateIfMissing: config.vault.generate_if_missing });
  const vault = new Vault(master);
  const store = await openStore(config.store);
  try {
    const checkpoints = auditCheckpointSettings(config.audit);
    const witnesses = await openWitnesses(config.audit.witness, logger);
    const audit = await AuditLog.open({ store, signingKeyFile: auditKeyFile(config), checkpointEvery: checkpoints.everyRecords, checkpointEveryMs: checkpoints.everyMs, witnesses, logger });
    const localIssuer = await LocalIssuer.open({ store, vault, config: config.identity.local_issuer, audit });
    const authenticator = createAuthenticator({ config: config.identity, localIssuer, logger, audit });
    const saml = new SamlExchange({ idps: config.identity.saml, localIssuer, audit, logger });
    const sshKeys = await SshKeyService.open({ store, audit, logger: logger.child({ component: 'ssh-keys' }), issuer: localIssuer.issuer });
    const credentials = new CredentialStore(store, vault, audit);
    const relays = new RelayService(store, audit);
    const policies = compilePolicies(config.policies);
    const masks = new MaskPlanner(resolveMaskHashKey(config.masking?.hash_key, master.key));
    const notifier = new Notifier({ config: config.notifications, logger: logger.child({ component: 'notify' }), audit });
    const reviews = await ReviewService.open({ store, audit, notifier, logger: logger.child({ component: 'reviews' }), agentGroups: config.reviews.agent_groups, ...(config.reviews.url !== undefined ? { baseUrl: config.reviews.url } : {}) });
    return {
      config,
      logger,
      store,
      masterKey: { id: master.id, source: master.source, generated: master.generated },
      vault,
      audit,
      localIssuer,
      authenticator,
      saml,
      sshKeys,
      credentials,
      relays,
      policies,
      masks,
      notifier,
      reviews,
      async close() {
        reviews.close();
        await notifier.close(Date.now() + 5_000);
        await audit.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
