// Public keys an administrator registered for a subject: the SSH listener's login by key. Each
// registration says who a login with the key is (subject, groups) and until when; it can be
// revoked, never edited. Parsing is ssh2's (utils.parseKey), the fingerprint is OpenSSH's
// (SHA-256 of the key blob); nothing here does cryptography of its own.
//
// The login path asks one synchronous question (who is this key blob?), answered from memory:
// every registration is loaded at open and the index follows add and revoke in this process.
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import ssh2, { type ParsedKey } from 'ssh2';
import type { AuditSink } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import type { Identity } from '../core/identity.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { SshKeyRepository, StoredSshKey } from '../store/repositories/ssh-keys.ts';
import type { Store } from '../store/store.ts';
import { claimList, safeText } from './claims.ts';

// ssh2 is CommonJS: its named exports are not visible to ESM imports.
const { utils } = ssh2;

/** The key types a registration may have. DSA, certificates and FIDO (`sk-`) keys are refused. */
export const SUPPORTED_KEY_TYPES: readonly string[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];
/** RSA moduli below this are refused (OpenSSH's own minimum is 1024; 2048 is today's floor). */
export const MIN_RSA_BITS = 2048;
/** A .pub line of a 16384-bit RSA key is under 3 KiB; anything far larger is not a key line. */
const MAX_KEY_TEXT = 16 * 1024;

/** A registration as the service hands it out; times are epoch milliseconds as stored. */
export interface SshKey {
  readonly id: string;
  readonly fingerprint: string;
  readonly type: string;
  /** The key blob, base64 (the second field of a .pub line). */
  readonly publicKey: string;
  readonly subject: string;
  readonly groups: readonly string[];
  readonly comment: string | null;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  readonly revokedBy: string | null;
}

export type SshKeyStatus = 'active' | 'expired' | 'revoked';

export function keyStatus(key: SshKey, now = Date.now()): SshKeyStatus {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && now >= key.expiresAt) return 'expired';
  return 'active';
}

/** The key in the API's shape (snake_case, the .pub line, the status now). */
export function sshKeyView(key: SshKey, now = Date.now()): Record<string, unknown> {
  return {
    id: key.id,
    fingerprint: key.fingerprint,
    type: key.type,
    public_key: `${key.type} ${key.publicKey}`,
    subject: key.subject,
    groups: [...key.groups],
    comment: key.comment,
    status: keyStatus(key, now),
    created_at: key.createdAt,
    created_by: key.createdBy,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt,
    revoked_by: key.revokedBy,
  };
}

/** `SHA256:` and the unpadded base64 SHA-256 of the blob: what `ssh-keygen -l` and `ssh -v` print. */
export function keyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export interface ParsedPublicKey {
  readonly type: string;
  /** The key blob in SSH wire format. */
  readonly blob: Buffer;
  readonly fingerprint: string;
  /** The comment of the line ('' when there is none). */
  readonly comment: string;
}

/** The first field of a line when it looks like a key type (`ssh-dss`, `sk-ssh-ed25519@openssh.com`). */
function typeWord(text: string): string | undefined {
  const m = /^([a-z0-9][a-z0-9@.-]{2,63})\s+[A-Za-z0-9+/=]{16,}/.exec(text);
  return m?.[1];
}

function isPrivate(parsed: ParsedKey | Error, text: string): boolean {
  if (!(parsed instanceof Error)) return parsed.isPrivateKey();
  // An encrypted private key without its passphrase fails to parse: still a private key.
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----|^PuTTY-User-Key-File-/m.test(text) || /passphrase|private/i.test(parsed.message);
}

/**
 * One public key as an OpenSSH `.pub` line (`ssh-ed25519 AAAA... comment`) or an RFC 4716
 * block. Refused: private keys (the message never repeats the input), anything that is not a
 * key, unsupported types and short RSA keys.
 */
export function parsePublicKey(input: string): ParsedPublicKey {
  const text = input.trim();
  if (text.length === 0) throw new GatewayError('PCS_SSH_KEY_INVALID', { reason: 'nothing was sent' });
  if (text.length > MAX_KEY_TEXT) throw new GatewayError('PCS_SSH_KEY_INVALID', { reason: `more than ${MAX_KEY_TEXT} characters` });
  const parsed = utils.parseKey(text);
  if (isPrivate(parsed, text)) throw new GatewayError('PCS_SSH_KEY_PRIVATE');
  if (parsed instanceof Error) {
    const word = typeWord(text);
    if (word !== undefined && !SUPPORTED_KEY_TYPES.includes(word)) throw new GatewayError('PCS_SSH_KEY_UNSUPPORTED', { type: word });
    const lines = text.split(/\r?\n/).length;
    throw new GatewayError('PCS_SSH_KEY_INVALID', { reason: lines > 1 && !text.startsWith('---- BEGIN SSH2 PUBLIC KEY') ? `${lines} lines were sent, one key line is expected` : parsed.message });
  }
  // A certificate parses with its full type (ssh-ed25519-cert-v01@openssh.com).
  const word = typeWord(text);
  if (!SUPPORTED_KEY_TYPES.includes(parsed.type) || (word !== undefined && word !== parsed.type)) throw new GatewayError('PCS_SSH_KEY_UNSUPPORTED', { type: word ?? parsed.type });
  if (parsed.type === 'ssh-rsa') {
    const bits = createPublicKey(parsed.getPublicPEM()).asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new GatewayError('PCS_SSH_KEY_UNSUPPORTED', { type: `ssh-rsa of ${bits} bits` });
  }
  const blob = parsed.getPublicSSH();
  return { type: parsed.type, blob, fingerprint: keyFingerprint(blob), comment: parsed.comment };
}

/** The answer to "who is this key?" on the login path. */
export type KeyLookup =
  | { readonly ok: true; readonly key: SshKey; readonly identity: Identity }
  | { readonly ok: false; readonly error: GatewayError; readonly fingerprint: string; readonly key: SshKey | undefined };

/** What the gate needs of the registered keys. */
export interface RegisteredKeys {
  identify(blob: Buffer, now?: number): KeyLookup;
}

export interface AddKeyRequest {
  readonly subject: string;
  readonly groups: readonly string[];
  /** The .pub line (or RFC 4716 block). */
  readonly publicKey: string;
  readonly expiresInSeconds?: number;
  /** Defaults to the comment of the key line. */
  readonly comment?: string;
  /** Who asked: an admin subject. */
  readonly createdBy: string;
}

export interface SshKeyServiceOptions {
  /** Only its sshKeys repository is used. */
  readonly store: Pick<Store, 'sshKeys'>;
  readonly audit: AuditSink;
  readonly logger: Logger;
  /** The `issuer` of key identities: the gateway's own (local issuer) name. */
  readonly issuer: string;
}

function fromRow(r: StoredSshKey): SshKey {
  const { keyType, ...rest } = r;
  return { ...rest, type: keyType, groups: claimList(JSON.parse(r.groups)) };
}

export class SshKeyService implements RegisteredKeys {
  readonly #keys: SshKeyRepository;
  readonly #audit: AuditSink;
  readonly #issuer: string;
  /**
   * By key blob (base64): the registration a login with it meets. A live one wins over a
   * revoked one, so a key revoked and registered again logs in; a revoked one stays, so that
   * a refusal can say "revoked" rather than "unknown".
   */
  readonly #byBlob = new Map<string, SshKey>();

  private constructor(opts: SshKeyServiceOptions) {
    this.#keys = opts.store.sshKeys;
    this.#audit = opts.audit;
    this.#issuer = opts.issuer;
  }

  static async open(opts: SshKeyServiceOptions): Promise<SshKeyService> {
    const service = new SshKeyService(opts);
    const rows = await opts.store.sshKeys.all();
    for (const row of rows) service.#index(fromRow(row));
    opts.logger.debug({ keys: rows.length }, 'registered ssh keys loaded');
    return service;
  }

  // ---- the login path (synchronous) ----

  identify(blob: Buffer, now = Date.now()): KeyLookup {
    const key = this.#byBlob.get(blob.toString('base64'));
    const fingerprint = key?.fingerprint ?? keyFingerprint(blob);
    if (key === undefined) return { ok: false, error: new GatewayError('PCS_AUTH_KEY_UNKNOWN', { fingerprint }), fingerprint, key };
    const status = keyStatus(key, now);
    if (status === 'revoked') return { ok: false, error: new GatewayError('PCS_AUTH_KEY_REVOKED', { fingerprint, id: key.id }), fingerprint, key };
    if (status === 'expired') return { ok: false, error: new GatewayError('PCS_AUTH_KEY_EXPIRED', { fingerprint, id: key.id }), fingerprint, key };
    const identity: Identity = {
      subject: key.subject,
      groups: [...key.groups],
      // Whatever its groups, a key login is an agent: it can never approve a review, and the
      // admin role comes only with a token.
      roles: ['agent'],
      issuer: this.#issuer,
      method: 'ssh-key',
      ...(key.expiresAt !== null ? { expiresAt: Math.floor(key.expiresAt / 1000) } : {}),
    };
    return { ok: true, key, identity };
  }

  // ---- administration ----

  /** Register a key; audited (`ssh_key.added`). An unaudited registration is removed again. */
  async add(req: AddKeyRequest): Promise<SshKey> {
    if (!req.subject) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: 'a key needs a subject' });
    const ttl = req.expiresInSeconds;
    if (ttl !== undefined && (!Number.isFinite(ttl) || ttl <= 0)) throw new GatewayError('PCS_API_BAD_REQUEST', { reason: 'expires_in must be a positive duration' });
    const parsed = parsePublicKey(req.publicKey);
    const now = Date.now();
    const key: SshKey = {
      id: `key_${randomBytes(6).toString('hex')}`,
      fingerprint: parsed.fingerprint,
      type: parsed.type,
      publicKey: parsed.blob.toString('base64'),
      subject: req.subject,
      groups: [...new Set(req.groups)],
      // Shown in listings and terminals: no control characters.
      comment: req.comment !== undefined ? safeText(req.comment, 500) : parsed.comment === '' ? null : safeText(parsed.comment, 500),
      createdAt: now,
      createdBy: req.createdBy,
      expiresAt: ttl === undefined ? null : now + Math.ceil(ttl * 1000),
      revokedAt: null,
      revokedBy: null,
    };
    // The unique index is the rule; this read only makes the usual case's message precise.
    await this.#refuseDuplicate(key.fingerprint);
    const { type, ...rest } = key;
    if (!(await this.#keys.insert({ ...rest, keyType: type, groups: JSON.stringify(key.groups) }))) {
      await this.#refuseDuplicate(key.fingerprint);
      // The registration that won the race was revoked again meanwhile: rare, and safe to retry.
      throw new Error(`public key ${key.fingerprint} was registered and revoked concurrently; try again`);
    }
    try {
      await this.#audit.append({
        type: 'ssh_key.added',
        actor: req.createdBy,
        data: { id: key.id, fingerprint: key.fingerprint, key_type: key.type, subject: key.subject, groups: [...key.groups], comment: key.comment, expires_at: key.expiresAt },
      });
    } catch (err) {
      await this.#keys.delete(key.id);
      throw err;
    }
    this.#index(key);
    return key;
  }

  /**
   * Revoke by id (`key_...`) or by fingerprint (`SHA256:...`: the registration that is not
   * revoked). Logins with the key are refused from then on. Revoking twice is a no-op that
   * returns the revoked registration; audited once (`ssh_key.revoked`).
   */
  async revoke(idOrFingerprint: string, by: string): Promise<SshKey> {
    const found = await this.#find(idOrFingerprint);
    if (found === undefined) throw new GatewayError('PCS_SSH_KEY_NOT_FOUND', { key: idOrFingerprint });
    if (found.revokedAt !== null) return found;
    const now = Date.now();
    const { changed, key: row } = await this.#keys.revoke(found.id, now, by);
    if (row === undefined) throw new GatewayError('PCS_SSH_KEY_NOT_FOUND', { key: idOrFingerprint });
    const revoked = fromRow(row);
    // Memory first: the key stops working even if the audit append fails below.
    this.#index(revoked);
    // Only the caller that flipped the row audits it (two concurrent revokes: one event).
    if (changed) await this.#audit.append({ type: 'ssh_key.revoked', actor: by, data: { id: revoked.id, fingerprint: revoked.fingerprint, subject: revoked.subject } });
    return revoked;
  }

  /** Registrations, newest first: not revoked ones (expired included), or all. */
  async list(opts: { subject?: string; includeRevoked?: boolean } = {}): Promise<SshKey[]> {
    const rows = await this.#keys.list({ ...(opts.subject !== undefined ? { subject: opts.subject } : {}), includeRevoked: opts.includeRevoked === true, limit: 10_000 });
    return rows.map(fromRow);
  }

  async get(idOrFingerprint: string): Promise<SshKey | undefined> {
    return this.#find(idOrFingerprint);
  }

  // ---- internals ----

  async #find(idOrFingerprint: string): Promise<SshKey | undefined> {
    if (idOrFingerprint.startsWith('SHA256:')) {
      // The live registration if there is one, else the latest revoked one.
      const rows = await this.#keys.byFingerprint(idOrFingerprint);
      const row = rows.find((r) => r.revokedAt === null) ?? rows[0];
      return row === undefined ? undefined : fromRow(row);
    }
    const row = await this.#keys.get(idOrFingerprint);
    return row === undefined ? undefined : fromRow(row);
  }

  async #refuseDuplicate(fingerprint: string): Promise<void> {
    const live = (await this.#keys.byFingerprint(fingerprint)).find((k) => k.revokedAt === null);
    if (live !== undefined) throw new GatewayError('PCS_SSH_KEY_EXISTS', { fingerprint, id: live.id, subject: live.subject });
  }

  #index(key: SshKey): void {
    const current = this.#byBlob.get(key.publicKey);
    if (current !== undefined && current.id !== key.id && current.revokedAt === null && key.revokedAt !== null) return;
    this.#byBlob.set(key.publicKey, key);
  }
}
