// Where to send a person back after signing in: only a path of this site (`/identity/review/…`), never another
// host (`https://evil.example`, `//evil.example`, `/\evil.example`) — no open redirect.

const MAX_RETURN = 512;
// A path starting with one slash followed by something other than a slash or backslash; printable ASCII only.
const LOCAL_PATH = /^\/(?![/\\])[\x21-\x7e]*$/;

/** The return path if `value` is a same-site relative path, else undefined. */
export function safeReturnPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN) return undefined;
  if (!LOCAL_PATH.test(value) || value.includes('\\')) return undefined;
  const url = new URL(value, 'http://passerelle.invalid');
  if (url.origin !== 'http://passerelle.invalid') return undefined;
  // Normalisation can make a protocol-relative path of a local one (`/.//evil.example` → `//evil.example`): check again.
  const path = `${url.pathname}${url.search}`;
  return LOCAL_PATH.test(path) ? path : undefined;
}

/** The sign-in address that brings the person back to `path`. */
export function signInUrl(path: string): string {
  const back = safeReturnPath(path);
  return back && back !== '/' ? `/connexion?retour=${encodeURIComponent(back)}` : '/connexion';
}
