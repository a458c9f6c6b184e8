// The configuration schema as JSON Schema, for editors (schema/portcullis.schema.json).
import { z } from 'zod';
import { configSchema } from './schema.ts';

export function jsonSchema(): Record<string, unknown> {
  // `input` describes what may be written in the file: keys with defaults are optional.
  return { title: 'Portcullis configuration', ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) };
}
