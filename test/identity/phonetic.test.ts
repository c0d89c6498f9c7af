// French phonetic key (talisman Phonex on deburred, particle-free keys) and Jaro-Winkler.
import { describe, expect, it } from 'vitest';
import { frenchPhonetic, jaroWinkler } from '../../src/identity/phonetic.js';
import { person } from './identities.js';

describe('frenchPhonetic', () => {
  it('gives homophone French surnames the same key and different names different keys', () => {
    expect(frenchPhonetic('DUPONT')).toBe(frenchPhonetic('DUPOND'));
    expect(frenchPhonetic('GAUTHIER')).toBe(frenchPhonetic('GAUTIER'));
    expect(frenchPhonetic('LEFEBVRE')).toBe(frenchPhonetic('LEFEVRE'));
    expect(frenchPhonetic('DUPONT')).not.toBe(frenchPhonetic('DURAND'));
    expect(frenchPhonetic('')).toBe('');
  });

  it('is computed on the deburred, particle-free key, so accents and particles do not change it', () => {
    // Raw Phonex would encode È as Y (LEFÈVRE → LEFIFRE): normalisation must deburr first.
    expect(person({ birthName: 'Lefèvre' }).birthNamePhonetic).toBe('LEFEFRE');
    expect(person({ birthName: 'de La Fontaine' }).birthNamePhonetic).toBe(person({ birthName: 'FONTAINE' }).birthNamePhonetic);
  });
});

describe('jaroWinkler', () => {
  it('is the standard Jaro-Winkler similarity', () => {
    expect(jaroWinkler('MARTHA', 'MARHTA')).toBeCloseTo(0.9611, 4);
    expect(jaroWinkler('DUPONT', 'DUPONT')).toBe(1);
    expect(jaroWinkler('DUPONT', 'XYZ')).toBe(0);
  });
});
