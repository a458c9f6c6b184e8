// The `notifications` section: where reviewers are told that a review or access request waits
// for them (docs/notifications.md). Values such as a Slack webhook URL or an HMAC key arrive here
// already resolved from `${env:...}` / `${file:...}` references by the loader, so every message
// below names the problem, never the value.
import { z } from 'zod';
import { isLoopbackHttp } from '../identity/urls.ts';

export const NOTIFY_EVENTS = [
  'review.created',
  'review.approved',
  'review.denied',
  'review.expired',
  'access.requested',
  'access.approved',
  'access.denied',
  'access.expired',
] as const;

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** What a Slack target gets when `events` is left out: the two events that need someone to act. */
export const SLACK_DEFAULT_EVENTS: readonly NotifyEvent[] = ['review.created', 'access.requested'];

const events = z.array(z.enum(NOTIFY_EVENTS)).min(1, 'list at least one event, or leave events out');

function parsesAs(text: string, ok: (u: URL) => boolean): boolean {
  try {
    return ok(new URL(text));
  } catch {
    return false;
  }
}

const webhook = z.strictObject({
  /** Receives the signed JSON notice. */
  url: z.string().refine((u) => parsesAs(u, (p) => p.protocol === 'https:' || p.protocol === 'http:'), 'expected an http or https URL'),
  /** HMAC-SHA256 key of the x-portcullis-signature header (`${env:...}`). */
  // config/schema.ts keeps its `secret` helper private; a plain string with a floor on its length.
  secret: z.string().min(16, 'use at least 16 characters (openssl rand -hex 32)'),
  /** Default: every event. */
  events: events.default([...NOTIFY_EVENTS]),
});

const slack = z.strictObject({
  /** A Slack incoming-webhook URL. The URL is the credential: keep it in `${env:...}`. */
  // Plain http only for loopback (tests, a local relay): on the network it would expose both the
  // statement text and the URL, which lets anyone post to the channel.
  webhook_url: z.string().refine((u) => parsesAs(u, (p) => p.protocol === 'https:' || isLoopbackHttp(p)), 'expected an https URL (plain http only for loopback hosts)'),
  events: events.default([...SLACK_DEFAULT_EVENTS]),
});

export const notificationsSchema = z.strictObject({
  webhooks: z.array(webhook).default([]),
  slack: z.array(slack).default([]),
});

export type NotificationsConfig = z.output<typeof notificationsSchema>;
export type WebhookTargetConfig = NotificationsConfig['webhooks'][number];
export type SlackTargetConfig = NotificationsConfig['slack'][number];
