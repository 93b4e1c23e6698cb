/**
 * The word edits of a dictation (transcript → final text), as the Dictate view shows
 * and undoes them. Offsets count characters (Unicode scalar values), so text is indexed
 * through `Array.from` — never `String.prototype.slice`, whose UTF-16 units split an
 * emoji in two. Pure (no `@raycast/api`), so vitest checks it.
 */
import type { Edit } from "./engine";

/** The characters (Unicode scalar values) of `text`. */
export const chars = (text: string): string[] => Array.from(text);

/** `text`'s characters `start..end`. */
export function charSlice(text: string, start: number, end: number): string {
  return chars(text).slice(start, end).join("");
}

/** Whether every edit's `after` is the final text at its offsets (and the ranges are in
 * order without overlapping): the condition for undoing them here. */
export function editsMatch(text: string, edits: Edit[]): boolean {
  const c = chars(text);
  let last = 0;
  for (const e of edits) {
    if (!(e.after_start >= last && e.after_end >= e.after_start && e.after_end <= c.length)) return false;
    if (c.slice(e.after_start, e.after_end).join("") !== e.after) return false;
    last = e.after_end;
  }
  return true;
}

/** The indexes of `undone` (or all edits) from the last to the first in the text. */
function lastFirst(edits: Edit[], undone: Iterable<number>): number[] {
  return [...new Set(undone)]
    .filter((i) => Number.isInteger(i) && i >= 0 && i < edits.length)
    .sort((a, b) => edits[b].after_start - edits[a].after_start || b - a);
}

/**
 * `text` (the final text) with the edits at indexes `undone` reverted: each one's
 * `before` put back over its `after` range, the last first, so the earlier offsets stay
 * right. Reverting every edit gives the transcript back.
 */
export function revertEdits(text: string, edits: Edit[], undone: Iterable<number>): string {
  const c = chars(text);
  for (const i of lastFirst(edits, undone)) {
    const e = edits[i];
    c.splice(e.after_start, e.after_end - e.after_start, ...chars(e.before));
  }
  return c.join("");
}

/** `text` with edit `index` alone reverted ("undo this edit"). */
export function undoEdit(text: string, edits: Edit[], index: number): string {
  return revertEdits(text, edits, [index]);
}

/**
 * Where each edit lies in the text with `undone` reverted: its `after` range when it is
 * kept, its `before` text's range when undone (empty for a kept deletion or an undone
 * insertion), in characters.
 */
export function editSpans(edits: Edit[], undone: Iterable<number>): { start: number; end: number }[] {
  const reverted = new Set(lastFirst(edits, undone));
  let shift = 0;
  // Edits are in text order: each one shifts the ones after it by what reverting it
  // changed in length.
  const order = edits.map((_, i) => i).sort((a, b) => edits[a].after_start - edits[b].after_start || a - b);
  const spans: { start: number; end: number }[] = new Array(edits.length);
  for (const i of order) {
    const e = edits[i];
    const start = e.after_start + shift;
    const length = reverted.has(i) ? chars(e.before).length : e.after_end - e.after_start;
    spans[i] = { start, end: start + length };
    if (reverted.has(i)) shift += chars(e.before).length - (e.after_end - e.after_start);
  }
  return spans;
}

/** Markdown with `text` shown as it is (no emphasis, links or headings from it). */
export function escapeMarkdown(text: string): string {
  return text.replace(/([\\`*_~[\]()#<>|!{}+-])/g, "\\$1");
}

/** An edit's words without the whitespace it carries at either end. */
const words = (s: string) => s.trim();

/** One edit as plain text, for a list row: `um` → (removed), `france` → `France?`. */
export function editTitle(e: Edit): string {
  switch (e.kind) {
    case "delete":
      return `Removed “${words(e.before)}”`;
    case "insert":
      return `Added “${words(e.after)}”`;
    default:
      return `“${words(e.before)}” → “${words(e.after)}”`;
  }
}

/** One edit as Markdown: ~~before~~ → after. */
export function editMarkdown(e: Edit): string {
  const before = words(e.before);
  const after = words(e.after);
  switch (e.kind) {
    case "delete":
      return `~~${escapeMarkdown(before)}~~`;
    case "insert":
      return `＋ **${escapeMarkdown(after)}**`;
    default:
      return `~~${escapeMarkdown(before)}~~ → **${escapeMarkdown(after)}**`;
  }
}

/** The list of edits as Markdown, the undone ones marked. */
export function editsMarkdown(edits: Edit[], undone: Iterable<number> = []): string {
  const reverted = new Set(undone);
  return edits.map((e, i) => `- ${editMarkdown(e)}${reverted.has(i) ? " _(undone)_" : ""}`).join("\n");
}

/**
 * The text with one span highlighted, for the edits list's detail: `text`'s characters
 * with `span` in bold (or, for an empty span, a caret ‸ where the words were removed).
 */
export function highlightSpan(text: string, span: { start: number; end: number }): string {
  const c = chars(text);
  const before = escapeMarkdown(c.slice(0, span.start).join(""));
  const inside = c.slice(span.start, span.end).join("");
  const after = escapeMarkdown(c.slice(span.end).join(""));
  if (!inside.trim()) return `${before}${inside}**‸**${after}`;
  // Bold markers must hug the words: keep the span's own spaces outside them.
  const lead = /^\s*/u.exec(inside)?.[0] ?? "";
  const trail = /\s*$/u.exec(inside)?.[0] ?? "";
  const core = inside.slice(lead.length, inside.length - trail.length);
  return `${before}${lead}**${escapeMarkdown(core)}**${trail}${after}`;
}
