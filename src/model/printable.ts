/**
 * Control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides
 * in text that came from a document or a file: printed raw, they could forge log lines or
 * terminal output (a newline starting a fake `error:` line, ANSI escapes, reversed text).
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every unprintable character as a `\uXXXX` escape (`\n` as `\n`), safe for one line. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
