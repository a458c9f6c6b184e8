// What a notification says. Webhook receivers get exactly this object as JSON, so it is a public
// format (docs/notifications.md): add fields, never rename or remove them.
import type { NotifyEvent } from './config.ts';

export interface ReviewNotice {
  readonly type: NotifyEvent;
  /** When the event happened, epoch ms. */
  readonly at: number;
  readonly review: {
    /** e.g. `r-7f3a9c`. */
    readonly id: string;
    readonly kind: 'action' | 'access';
    /** pending | approved | denied | expired */
    readonly status: string;
    /** Who asked. */
    readonly subject: string;
    readonly connection: string;
    /** Action reviews: what would run. */
    readonly action?: { readonly kind: string; readonly text: string; readonly params?: readonly (string | null)[] | null };
    /** Access requests: the policy asked for. */
    readonly policy?: string;
    readonly duration_seconds?: number;
    /** `policy#index (name)` of the rule that asked for the review. */
    readonly rule?: string | null;
    /** The requester's own reason. */
    readonly reason?: string | null;
    readonly created_at: number;
    readonly expires_at: number;
    readonly approvers: { readonly groups: readonly string[]; readonly min: number; readonly all_groups: boolean };
    /** Where to approve. */
    readonly url: string;
  };
  /** Who approved or denied. */
  readonly actor?: string;
  readonly comment?: string | null;
}
