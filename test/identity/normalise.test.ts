// Normalisation of the strict traits: name forms and keys, particles, given-name forms, partial dates.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InsError } from '../../src/identity/ins.js';
import {
  BirthDateError,
  compareDates,
  deburr,
  dropParticles,
  givenNameForms,
  nameForm,
  nameKey,
  normaliseIdentity,
  parseBirthDate,
} from '../../src/identity/normalise.js';
import { NIA_HELENE, OID, person } from './identities.js';

describe('deburr, nameForm, nameKey', () => {
  it('upper-cases, removes accents and expands ligatures', () => {
    expect(deburr('Hélène Gaëlle Çàùîô')).toBe('HELENE GAELLE CAUIO');
    expect(deburr('Lætitia Œuvrard Weiß')).toBe('LAETITIA OEUVRARD WEISS');
    expect(deburr('Łukasz Ørsted')).toBe('LUKASZ ORSTED');
  });

  it('keeps one separator of the right kind between letters and none at the ends', () => {
    expect(nameForm('  de  la   Fontaine ')).toBe('DE LA FONTAINE');
    expect(nameForm('Jean – Pierre')).toBe('JEAN-PIERRE');
    expect(nameForm('d’Artagnan')).toBe("D'ARTAGNAN");
    expect(nameForm("l' Hermite")).toBe("L'HERMITE");
    expect(nameForm('--Dupont.')).toBe('DUPONT');
    expect(nameForm('李')).toBe('');
  });

  it('collapses spaces, hyphens and apostrophes in the key', () => {
    expect(nameKey('de la Fontaine')).toBe('DELAFONTAINE');
    expect(nameKey('Jean-Pierre')).toBe(nameKey('JEAN PIERRE'));
    expect(nameKey("D'Artagnan")).toBe('DARTAGNAN');
  });

  it('drops particles (elided ones too) but keeps a name made of particles only', () => {
    expect(dropParticles('DE LA FONTAINE')).toBe('FONTAINE');
    expect(dropParticles("d'Artagnan")).toBe('ARTAGNAN');
    expect(dropParticles("L'Hermite")).toBe('HERMITE');
    expect(dropParticles('Le Gall')).toBe('GALL');
    expect(dropParticles('des Essarts du Plessis')).toBe('ESSARTSPLESSIS');
    expect(dropParticles('Da Silva')).toBe('SILVA');
    expect(dropParticles('Le')).toBe('LE');
    expect(dropParticles('DELAFONTAINE')).toBe('DELAFONTAINE');
    expect(dropParticles('Delaunay')).toBe('DELAUNAY');
  });
});

/** Letters with and without accents, upper and lower, and every separator kind the senders use. */
const ACCENTED: Record<string, string> = { é: 'e', è: 'e', ê: 'e', ë: 'e', à: 'a', â: 'a', ç: 'c', î: 'i', ï: 'i', ô: 'o', ù: 'u', û: 'u', ü: 'u', ÿ: 'y', É: 'E', È: 'E', Ç: 'C', Ô: 'O' };
const letter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', ...Object.keys(ACCENTED));
const word = fc.array(letter, { minLength: 1, maxLength: 8 }).map((l) => l.join(''));
const separator = fc.constantFrom(' ', '-', "'", '’', '  ', ' - ', '–');
const name = fc
  .tuple(word, fc.array(fc.tuple(separator, word), { maxLength: 3 }))
  .map(([first, rest]) => first + rest.map(([s, w]) => s + w).join(''));
const stripAccents = (s: string) => [...s].map((c) => ACCENTED[c] ?? c).join('');

describe('normalisation properties', () => {
  it('nameForm and nameKey are idempotent on any string, and emit only A–Z (plus single inner separators for the form)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => {
        const form = nameForm(s);
        expect(nameForm(form)).toBe(form);
        expect(form).toMatch(/^([A-Z]+([ '-][A-Z]+)*)?$/);
        const key = nameKey(s);
        expect(nameKey(key)).toBe(key);
        expect(key).toMatch(/^[A-Z]*$/);
        expect(dropParticles(dropParticles(s))).toBe(dropParticles(s));
      }),
      { numRuns: 500 },
    );
  });

  it('keys ignore accents and case', () => {
    fc.assert(
      fc.property(name, (n) => {
        expect(nameKey(stripAccents(n))).toBe(nameKey(n));
        expect(nameForm(n.toLowerCase())).toBe(nameForm(n.toUpperCase()));
        expect(dropParticles(stripAccents(n).toLowerCase())).toBe(dropParticles(n));
      }),
    );
  });

  it('keys ignore hyphen / space / apostrophe variants; the form does not', () => {
    fc.assert(
      fc.property(fc.array(word, { minLength: 2, maxLength: 4 }), (words) => {
        const hyphen = words.join('-');
        expect(nameKey(words.join(' '))).toBe(nameKey(hyphen));
        expect(nameKey(words.join(''))).toBe(nameKey(hyphen));
        expect(nameKey(words.join("'"))).toBe(nameKey(hyphen));
        expect(nameForm(words.join(' '))).not.toBe(nameForm(hyphen));
      }),
    );
  });

  it('a leading particle never changes the no-particle key', () => {
    const core = word.filter((w) => !/^(de|du|des|la|le|les|d|l|da|das|dos|di|del|della|van|von|der)$/i.test(stripAccents(w)));
    fc.assert(
      fc.property(fc.constantFrom('DE ', 'de la ', 'Du ', 'LES ', "d'", 'L’', 'le '), core, (particle, w) => {
        expect(dropParticles(particle + w)).toBe(dropParticles(w));
      }),
    );
  });
});

describe('givenNameForms', () => {
  it('covers compound names with and without hyphen, each name, and the second name', () => {
    const forms = givenNameForms('Jean-Pierre', ['Jean-Pierre', 'Marie']);
    expect(forms[0]).toBe('JEANPIERRE');
    expect(forms).toEqual(expect.arrayContaining(['JEAN', 'PIERRE', 'MARIE', 'JEANPIERREMARIE']));
    // Two given names written apart can be the compound one.
    expect(givenNameForms('Jean', ['Jean', 'Pierre'])).toContain('JEANPIERRE');
    // Initials are not forms: "J" would match any J-name.
    expect(givenNameForms('J. Pierre')).not.toContain('J');
  });
});

describe('birth dates', () => {
  it('parses full and partial dates, reads 00 as unknown and flags 01-01 / 12-31', () => {
    expect(parseBirthDate('1979-03-08')).toEqual({ year: 1979, month: 3, day: 8, defaultDate: false });
    expect(parseBirthDate('1979-03')).toEqual({ year: 1979, month: 3, defaultDate: false });
    expect(parseBirthDate('1979')).toEqual({ year: 1979, defaultDate: false });
    expect(parseBirthDate('1979-00-00')).toEqual({ year: 1979, defaultDate: false });
    expect(parseBirthDate('1950-01-01').defaultDate).toBe(true);
    expect(parseBirthDate('1950-12-31').defaultDate).toBe(true);
    expect(parseBirthDate('1950-12-30').defaultDate).toBe(false);
  });

  it('refuses what is not a date, without echoing the value', () => {
    expect(() => parseBirthDate('08/03/1979')).toThrow(BirthDateError);
    expect(() => parseBirthDate('1979-13')).toThrow('month must be 01 to 12');
    expect(() => parseBirthDate('1979-02-30')).toThrow('not a calendar date');
    expect(() => parseBirthDate('1979-02-30')).not.toThrow('1979');
  });

  it('compares at the lowest common precision', () => {
    const d = parseBirthDate;
    expect(compareDates(d('1979-03-08'), d('1979-03-08'))).toBe('exact');
    expect(compareDates(d('1979-03-08'), d('1979-08-03'))).toBe('day-month-swapped');
    expect(compareDates(d('1979-03-08'), d('1979-03'))).toBe('partial-agree');
    expect(compareDates(d('1979-03-08'), d('1979'))).toBe('partial-agree');
    expect(compareDates(d('1979'), d('1979-11'))).toBe('partial-agree');
    expect(compareDates(d('1979-03-08'), d('1979-04'))).toBe('year-only');
    expect(compareDates(d('1979-03-08'), d('1979-03-09'))).toBe('year-only');
    expect(compareDates(d('1979-03-03'), d('1979-04-04'))).toBe('year-only');
    expect(compareDates(d('1979-03-08'), d('1978-03-08'))).toBe('different');
    expect(compareDates(d('1979'), d('1980'))).toBe('different');
  });

  it('is symmetric', () => {
    const date = fc
      .tuple(fc.integer({ min: 1990, max: 1992 }), fc.option(fc.integer({ min: 1, max: 12 })), fc.option(fc.integer({ min: 1, max: 28 })))
      .map(([y, m, day]) => parseBirthDate(m === null ? `${y}` : day === null ? `${y}-${String(m).padStart(2, '0')}` : `${y}-${String(m).padStart(2, '0')}-${String(day).padStart(2, '0')}`));
    fc.assert(fc.property(date, date, (a, b) => compareDates(a, b) === compareDates(b, a)));
  });
});

describe('normaliseIdentity', () => {
  it('computes every key once, keeping the original traits in source', () => {
    const n = person({ birthName: 'de la Fontaine', usedName: 'Martin-Durand', firstBirthGivenName: 'Jean-Pierre', birthGivenNames: ['Jean-Pierre', 'Marie'], sex: 'M' });
    expect(n).toMatchObject({
      birthNameForm: 'DE LA FONTAINE',
      birthNameKey: 'DELAFONTAINE',
      birthNameNoParticles: 'FONTAINE',
      birthNamePhonetic: 'F1TYNE',
      usedNameKey: 'MARTINDURAND',
      firstGivenForm: 'JEAN-PIERRE',
      firstGivenKey: 'JEANPIERRE',
      birthDate: { year: 1979, month: 3, day: 8, defaultDate: false },
      birthPlace: { code: '76540', abroad: false },
      status: 'VALI',
    });
    expect(n.source.birthName).toBe('de la Fontaine');
    expect(n.ins).toBeUndefined();
  });

  it('marks a 99xxx birthplace as abroad and reads the INS kind from the OID', () => {
    const n = person({ birthPlaceInsee: '99350', status: 'RECUP', ins: { matricule: NIA_HELENE, oid: `urn:oid:${OID.NIA}` } });
    expect(n.birthPlace).toEqual({ code: '99350', abroad: true });
    expect(n.ins).toEqual({ matricule: NIA_HELENE, oid: OID.NIA, kind: 'NIA' });
  });

  it('throws a named error on an INS or date the domain schema would have refused', () => {
    const unchecked = { ...person().source, ins: { matricule: '255081416802539', oid: OID.NIR } };
    expect(() => normaliseIdentity(unchecked)).toThrow(InsError);
    expect(() => normaliseIdentity(unchecked)).toThrow('ins.matricule: wrong key 39, expected 38');
    expect(() => normaliseIdentity({ ...person().source, birthDate: '1979-02-30' })).toThrow(BirthDateError);
  });
});
