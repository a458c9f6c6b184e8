// Request bodies are validated with zod; a bad body is a PCS_API_BAD_REQUEST naming the field.
import type { z } from 'zod';
import { GatewayError } from '../core/errors.ts';
import { formatPath } from '../config/load.ts';

export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const res = schema.safeParse(body ?? {});
  if (res.success) return res.data;
  const reason = res.error.issues.map((i) => `${formatPath(i.path) || 'body'}: ${i.message}`).join('; ');
  throw new GatewayError('PCS_API_BAD_REQUEST', { reason });
}
