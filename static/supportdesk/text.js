/**
 * Text that scripts write: the page's language, and names that must not reorder what is
 * around them.
 */

let strings = null;

/** The page's language for a script's English string (the server's `sd-text` dictionary,
 *  supportdesk/context_processors.py); the English itself where it has none. */
export function t(text) {
  if (strings === null) {
    const data = document.getElementById("sd-text");
    try {
      strings = data ? JSON.parse(data.textContent) : {};
    } catch (_) {
      strings = {};
    }
  }
  return strings[text] || text;
}

// Right-to-left letters (Hebrew, Arabic, Syriac, Thaana, NKo... and their presentation forms)
// and the directional controls: what may reorder the text around a name.
const REORDERING = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF\u200F\u202A-\u202E\u2066-\u2069]/u;

/** `text` between isolates (U+2068, U+2069) if it may reorder the plain text around it, as
 *  supportdesk/bidi.py `isolated` does for the server's texts. */
export function isolated(text) {
  return REORDERING.test(text) ? `\u2068${text}\u2069` : text;
}
