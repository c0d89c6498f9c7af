// PPP cross-field rules around the RCP messages.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError, parseDocument, type PppInput } from '../../src/domain/index.js';

const load = (): PppInput => JSON.parse(readFileSync(new URL('../fixtures/ppp/town-async-rcp.json', import.meta.url), 'utf8')) as PppInput;

function pathsOf(input: unknown): string[] {
  try {
    parseDocument('ppp', input);
    return [];
  } catch (err) {
    if (err instanceof InputError) return err.issues.map((i) => i.path);
    throw err;
  }
}

describe('PPP RCP messages', () => {
  it('threads asynchronous opinions by inResponseTo', () => {
    const ppp = parseDocument('ppp', load());
    const byId = new Map(ppp.rcp?.messages.map((m) => [m.id, m]));
    const mtOpinion = ppp.rcp?.messages.find((m) => m.category === 'avis-mt');
    expect(mtOpinion?.inResponseTo && byId.get(mtOpinion.inResponseTo)?.fromRpps).toBe(ppp.author.rpps);
  });

  it('accepts IDNPS for message authors and recipients, like every other RPPS field', () => {
    const input = load();
    input.rcp!.messages![0].fromRpps = '810101366549';
    input.rcp!.messages![0].toRpps = ['810100512341'];
    const ppp = parseDocument('ppp', input);
    expect(ppp.rcp?.messages[0].fromRpps).toBe('10101366549');
    expect(ppp.rcp?.messages[0].toRpps).toEqual(['10100512341']);
  });

  it('rejects a duplicate message id (messages become resources with ids derived from it)', () => {
    const input = load();
    input.rcp!.messages![4].id = input.rcp!.messages![0].id;
    expect(pathsOf(input)).toEqual(['ppp.rcp.messages[4].id']);
  });

  it('rejects an answer to an unknown message', () => {
    const input = load();
    input.rcp!.messages![2].inResponseTo = 'nope';
    expect(pathsOf(input)).toEqual(['ppp.rcp.messages[2].inResponseTo']);
  });
});

describe('PPP RCP duration', () => {
  const sync = (): PppInput => JSON.parse(readFileSync(new URL('../fixtures/ppp/ppp-12-medicines.json', import.meta.url), 'utf8')) as PppInput;
  it('takes the meeting\'s duration in minutes for a synchronous RCP', () => {
    const input = sync();
    (input.rcp as Record<string, unknown>).durationMinutes = 45;
    expect(parseDocument('ppp', input).rcp?.durationMinutes).toBe(45);
  });
  it('refuses a duration on an asynchronous RCP, and a duration that is not a whole number of minutes from 1 to 600', () => {
    const asyncInput = load();
    (asyncInput.rcp as Record<string, unknown>).durationMinutes = 30;
    expect(pathsOf(asyncInput)).toEqual(['ppp.rcp.durationMinutes']);
    for (const bad of ['45', 0, 601, 1.5, -3, null, { minutes: 4 }]) {
      const input = sync();
      (input.rcp as Record<string, unknown>).durationMinutes = bad;
      expect(pathsOf(input), JSON.stringify(bad)).toEqual(['ppp.rcp.durationMinutes']);
    }
  });
});
