/**
 * Credentials written into a URL (`https://user:password@host/…`) are the one secret a
 * redaction list by key cannot catch: they travel inside an ordinary string (a URL in a log
 * line, an error message, a status field). Every such string passes through here first.
 */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@"'<>]+)@/gi;

/** The text with every URL's user information replaced: `https://*****@host/…`. */
export function withoutUrlCredentials(text: string): string {
  if (!text.includes('@') || !text.includes('://')) return text;
  return text.replace(USERINFO, (_all, scheme: string, userinfo: string) => {
    const user = userinfo.split(':')[0];
    return userinfo.includes(':') ? `${scheme}${user}:*****@` : `${scheme}*****@`;
  });
}

/** Does this URL carry a user name or a password? */
export function hasUrlCredentials(value: string): boolean {
  try {
    const parsed = new URL(value);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return withoutUrlCredentials(value) !== value;
  }
}
