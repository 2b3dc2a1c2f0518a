/**
 * `npm run schema`: writes `config/twinlink.schema.json`, the JSON Schema of the configuration
 * file (input side: what users may write), so editors with yaml-language-server validate and
 * complete as you type. Run it after changing `schema.ts` and commit the result.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { twinlinkConfigSchema } from './schema.ts';

/** The JSON Schema document (draft-07, which editors support best) as pretty-printed JSON. */
export function configJsonSchema(): string {
  const schema = z.toJSONSchema(twinlinkConfigSchema, { io: 'input', target: 'draft-07', unrepresentable: 'any' });
  const document = {
    ...schema,
    $id: 'https://github.com/twinlink/twinlink/config/twinlink.schema.json',
    title: 'twinlink configuration',
    description: 'twinlink configuration file: HTTP server, users, engine settings and Eclipse Ditto http-push connections.',
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** Writes the schema to `target` (default `config/twinlink.schema.json` in the repository). */
export function writeSchema(target = fileURLToPath(new URL('../../config/twinlink.schema.json', import.meta.url))): string {
  writeFileSync(target, configJsonSchema());
  return target;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`wrote ${writeSchema()}`);
}
