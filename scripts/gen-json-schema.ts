// Writes schema/portcullis.schema.json from the zod schema (`npm run schema`). A test fails
// when the published file and the code disagree.
import { writeFileSync } from 'node:fs';
import { jsonSchema } from '../src/config/json-schema.ts';

const file = new URL('../schema/portcullis.schema.json', import.meta.url);
writeFileSync(file, JSON.stringify(jsonSchema(), null, 2) + '\n');
console.log(`wrote ${file.pathname}`);
