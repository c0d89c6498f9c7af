// Type declarations for the talisman@1.1.4 modules we use (the package ships CommonJS without types).
// Each file ends with `module.exports = exports['default']`, so a default import yields the function itself.

declare module 'talisman/phonetics/french/phonex.js' {
  /** Phonex code of one word (accents must be stripped first; non-letters are dropped). */
  function phonex(word: string): string;
  export = phonex;
}

declare module 'talisman/metrics/jaro-winkler.js' {
  /** Jaro-Winkler similarity in 0..1 (1 = identical), standard prefix scale 0.1, boost threshold 0.7. */
  function jaroWinkler(a: string, b: string): number;
  export = jaroWinkler;
}
