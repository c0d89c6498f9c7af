// Bounded memoisation for the identity keys: names and their phonetic codes follow a Zipf law.

/**
 * A bounded memo of a pure function of a string: names follow a Zipf law, so most identities reuse the work done for
 * an earlier one (emptied when full, which keeps the frequent names coming back at once).
 */
export function memo<T>(size: number, f: (s: string) => T): (s: string) => T {
  const cache = new Map<string, T>();
  return (s) => {
    let v = cache.get(s);
    if (v === undefined) {
      if (cache.size >= size) cache.clear();
      v = f(s);
      cache.set(s, v);
    }
    return v;
  };
}
