// Relays as an administrator manages them: add (a one-time enrolment secret), list (the store's
// registrations joined with the tunnels connected now), revoke (the registration, and every
// tunnel of that name dropped at once). Each change is audited.
import { randomBytes } from 'node:crypto';
import type { AuditSink } from '../core/audit-event.ts';
import { GatewayError } from '../core/errors.ts';
import type { Store } from '../store/store.ts';
import type { StoredRelay } from '../store/repositories/relays.ts';
import { secretHash } from './handshake.ts';
import { RelayRegistry, type TunnelView } from './registry.ts';

export interface RelayView {
  readonly name: string;
  readonly enrolled: boolean;
  readonly createdAt: string;
  readonly enrolledAt: string | null;
  /** One entry per relay process connected under this name. */
  readonly tunnels: readonly TunnelView[];
}

export class RelayService {
  readonly registry = new RelayRegistry();
  readonly #store: Pick<Store, 'relays'>;
  readonly #audit: AuditSink;

  constructor(store: Pick<Store, 'relays'>, audit: AuditSink) {
    this.#store = store;
    this.#audit = audit;
  }

  /** Registers `name` and answers its enrolment secret (shown once; the store keeps its hash). */
  async add(name: string, by: string): Promise<{ readonly name: string; readonly secret: string }> {
    const secret = `pcsr_${randomBytes(32).toString('base64url')}`;
    const row: StoredRelay = { name, secretHash: secretHash(secret), publicKey: null, createdAt: Date.now(), createdBy: by, enrolledAt: null, revokedAt: null, revokedBy: null };
    if (!(await this.#store.relays.insert(row))) throw new GatewayError('PCS_RELAY_EXISTS', { relay: name });
    await this.#audit.append({ type: 'relay.added', actor: by, data: { relay: name } });
    return { name, secret };
  }

  async revoke(name: string, by: string): Promise<{ readonly dropped: number }> {
    if (!(await this.#store.relays.revoke(name, Date.now(), by))) throw new GatewayError('PCS_RELAY_UNKNOWN', { relay: name });
    const dropped = this.registry.drop(name, 'the relay was revoked');
    await this.#audit.append({ type: 'relay.revoked', actor: by, data: { relay: name, tunnels_dropped: dropped } });
    return { dropped };
  }

  async list(): Promise<RelayView[]> {
    const tunnels = this.registry.list();
    return (await this.#store.relays.all())
      .filter((r) => r.revokedAt === null)
      .map((r) => ({
        name: r.name,
        enrolled: r.publicKey !== null,
        createdAt: new Date(r.createdAt).toISOString(),
        enrolledAt: r.enrolledAt === null ? null : new Date(r.enrolledAt).toISOString(),
        tunnels: tunnels.filter((t) => t.name === r.name),
      }));
  }

  /**
   * Whether a relay presenting `publicKey` (already proven to hold it) may connect as `name`:
   * the pinned key, or, before enrolment, the one-time secret, which pins the key.
   */
  async admit(name: string, publicKey: string, secret: string | undefined): Promise<{ readonly ok: true; readonly enrolled: boolean } | { readonly ok: false; readonly reason: string }> {
    const row = await this.#store.relays.live(name);
    if (row === undefined) return { ok: false, reason: 'no such relay (or revoked)' };
    if (row.publicKey !== null) return row.publicKey === publicKey ? { ok: true, enrolled: false } : { ok: false, reason: 'the key is not the one enrolled' };
    if (secret === undefined || row.secretHash === null) return { ok: false, reason: 'not enrolled yet and no enrolment secret sent' };
    if (!(await this.#store.relays.enrol(name, secretHash(secret), publicKey, Date.now()))) return { ok: false, reason: 'the enrolment secret is wrong or spent' };
    await this.#audit.append({ type: 'relay.enrolled', actor: `relay:${name}`, data: { relay: name } });
    return { ok: true, enrolled: true };
  }
}
