import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { configJsonSchema, writeSchema } from '../../src/config/write-schema.ts';

describe('the JSON Schema of the config file', () => {
  it('is written as draft-07 JSON describing every top-level key and rejecting unknown ones', () => {
    const target = writeSchema(join(mkdtempSync(join(tmpdir(), 'twinlink-schema-')), 'schema.json'));
    const schema = JSON.parse(readFileSync(target, 'utf8')) as { $schema: string; properties: Record<string, unknown>; additionalProperties: boolean };
    expect(schema.$schema).to.equal('http://json-schema.org/draft-07/schema#');
    expect(Object.keys(schema.properties)).to.have.members(['http', 'auth', 'things', 'engine', 'connections', 'connectionsDir', 'demo']);
    expect(schema.additionalProperties).to.equal(false);
  });

  it('matches the committed config/twinlink.schema.json (run npm run schema after schema changes)', () => {
    expect(readFileSync('config/twinlink.schema.json', 'utf8')).to.equal(configJsonSchema());
  });
});
