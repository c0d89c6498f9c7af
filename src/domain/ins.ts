// The INS matricule (NIR or NIA): 13 characters + a 2-digit key = 97 − (number mod 97), Corsica 2A/2B as 19/18.

/** Key of a 13-character matricule body, or undefined when the body is not a NIR/NIA shape. */
export function insKey(body: string): number | undefined {
  if (!/^[12378]\d{4}(\d{2}|2A|2B)\d{6}$/.test(body)) return undefined;
  const numeric = body.replace('2A', '19').replace('2B', '18');
  return 97 - Number(BigInt(numeric) % 97n);
}

/** True when the 15-character matricule has a correct key. */
export function isValidInsMatricule(matricule: string): boolean {
  if (matricule.length !== 15) return false;
  const key = insKey(matricule.slice(0, 13));
  return key !== undefined && /^\d{2}$/.test(matricule.slice(13)) && Number(matricule.slice(13)) === key;
}
