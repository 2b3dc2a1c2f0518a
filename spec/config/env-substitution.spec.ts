import { expect } from 'chai';
import { LineCounter, parseDocument } from 'yaml';
import { substituteEnv, substituteString } from '../../src/config/env-substitution.ts';

describe('substituteString', () => {
  const cases: [string, Record<string, string>, string][] = [
    ['${A}', { A: 'x' }, 'x'],
    ['pre-${A}-post', { A: 'x' }, 'pre-x-post'],
    ['${A:-fallback}', {}, 'fallback'],
    ['${A:-fallback}', { A: '' }, 'fallback'],
    ['${A}', { A: '' }, ''],
    ['${A:-}', {}, ''],
    ['$${A}', { A: 'x' }, '${A}'],
    ['$$${A}', { A: 'x' }, '$${A}'], // a lone $ stays, then $${ escapes
    ['no refs, $ alone, {{ thing:id }}', {}, 'no refs, $ alone, {{ thing:id }}'],
  ];
  for (const [text, env, expected] of cases) {
    it(`turns ${JSON.stringify(text)} with ${JSON.stringify(env)} into ${JSON.stringify(expected)}`, () => {
      expect(substituteString(text, env)).to.deep.equal({ value: expected, problems: [] });
    });
  }

  it('reports an unset variable without default, naming it', () => {
    const { problems } = substituteString('a ${MISSING} b', {});
    expect(problems).to.deep.equal([{ token: '${MISSING}', message: 'environment variable MISSING is not set (set it, or give a default: ${MISSING:-value})' }]);
  });

  it('reports a malformed reference', () => {
    expect(substituteString('${1BAD}', {}).problems[0]?.message).to.match(/^malformed variable reference/);
  });
});

describe('substituteEnv', () => {
  function run(text: string, env: Record<string, string>) {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter });
    const problems = substituteEnv(doc, text, lineCounter, env);
    return { data: doc.toJS() as unknown, problems };
  }

  it('substitutes values only, never keys, and re-reads plain scalars as numbers or booleans', () => {
    const { data } = run('${KEY}: ${N}\nb: "${N}"\nc: ${T}\nd: ${S}\n', { KEY: 'k', N: '42', T: 'true', S: '[1, 2]' });
    expect(data).to.deep.equal({ '${KEY}': 42, b: '42', c: true, d: '[1, 2]' });
  });

  it('points each problem at its ${ in the original text, inside lists too', () => {
    const text = 'a:\n  - x\n  - "pre ${ONE} and ${TWO}"\n';
    const { problems } = run(text, {});
    expect(problems.map((p) => [p.path, p.line, p.column])).to.deep.equal([
      [['a', 1], 3, 10],
      [['a', 1], 3, 21],
    ]);
  });
});
