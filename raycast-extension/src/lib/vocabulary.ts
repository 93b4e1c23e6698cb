/**
 * The vocabulary as Manage Vocabulary shows and edits it: the daemon's answer read
 * defensively, the rows of the list, what a removal takes out (the daemon's matching:
 * ignoring case and runs of whitespace, a replacement by either side), the toasts'
 * wording and the forms' checks. Pure (no `@raycast/api`), so vitest checks it.
 */
import type { AddOutcome, ImportSummary, Replacement, Vocabulary } from "./engine";

/** The most characters (Unicode scalar values) an entry holds, as the core checks. */
export const MAX_ENTRY_CHARS = 100;

/** The largest CSV file imported (1 MiB, as the core checks). */
export const MAX_IMPORT_BYTES = 1 << 20;

/** `{terms, replacements}` from the daemon's JSON: missing lists are empty, entries that
 * are not strings (or replacements without both sides) are left out. */
export function parseVocabulary(body: unknown): Vocabulary {
  const o = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
  const terms = Array.isArray(o.terms) ? o.terms.filter((t): t is string => typeof t === "string") : [];
  const replacements = Array.isArray(o.replacements)
    ? o.replacements.filter(
        (r): r is Replacement =>
          !!r &&
          typeof r === "object" &&
          typeof (r as Replacement).spoken === "string" &&
          typeof (r as Replacement).written === "string",
      )
    : [];
  return { terms, replacements: replacements.map((r) => ({ spoken: r.spoken, written: r.written })) };
}

/** How entries compare: lowercase, whitespace runs as one space, trimmed. */
export function entryKey(text: string): string {
  return text.trim().split(/\s+/u).filter(Boolean).join(" ").toLowerCase();
}

/** What removing `entry` takes out: every term equal to it, and every replacement whose
 * spoken or written form is (the daemon's rule). */
export function removalPreview(v: Vocabulary, entry: string): Vocabulary {
  const k = entryKey(entry);
  return {
    terms: v.terms.filter((t) => entryKey(t) === k),
    replacements: v.replacements.filter((r) => entryKey(r.spoken) === k || entryKey(r.written) === k),
  };
}

export function entryCount(v: Vocabulary): number {
  return v.terms.length + v.replacements.length;
}

/** `“murmur dot app” → Murmur.app` */
export function replacementText(r: Replacement): string {
  return `“${r.spoken}” → ${r.written}`;
}

/** The confirmation of a removal: what goes (more than the row when another entry
 * matches too, e.g. a term and the replacement that writes it). */
export function removalMessage(preview: Vocabulary): string {
  const parts = [...preview.terms.map((t) => `the term “${t}”`), ...preview.replacements.map(replacementText)];
  if (!parts.length) return "Nothing matches it any more.";
  return parts.length === 1 ? `This removes ${parts[0]}.` : `This removes ${parts.join(", ")}.`;
}

/** The toast after an add: `Added “Dashwood”`, `Updated “Dashwood”`, … */
export function addOutcomeTitle(outcome: AddOutcome, label: string): string {
  switch (outcome) {
    case "added":
      return `Added ${label}`;
    case "updated":
      return `Updated ${label}`;
    case "unchanged":
      return `${label} was already there`;
    default:
      return `Saved ${label}`;
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** `2 terms and 1 replacement added, 1 updated, 3 unchanged`, or `Nothing new`. */
export function importSummaryText(s: ImportSummary): string {
  const added: string[] = [];
  if (s.terms_added) added.push(plural(s.terms_added, "term"));
  if (s.replacements_added) added.push(plural(s.replacements_added, "replacement"));
  const parts: string[] = [];
  if (added.length) parts.push(`${added.join(" and ")} added`);
  if (s.updated) parts.push(`${s.updated} updated`);
  if (s.unchanged) parts.push(`${s.unchanged} unchanged`);
  return parts.length ? parts.join(", ") : "No entries in the file";
}

/** The problem with one entry field, as the form shows it, or `undefined`. */
export function entryError(value: string | undefined, what: string): string | undefined {
  const v = value?.trim() ?? "";
  if (!v) return `Enter ${what}`;
  if (Array.from(v).length > MAX_ENTRY_CHARS) return `At most ${MAX_ENTRY_CHARS} characters`;
  // Control characters (a tab or newline would break the prompts and the CSV form) and
  // the invisible bidirectional marks, as the core refuses them.
  if (/[\p{Cc}\u202A-\u202E\u2066-\u2069\uFEFF]/u.test(v)) return "No tabs, line breaks or invisible marks";
  return undefined;
}

export interface TermFormErrors {
  term?: string;
}

export function validateTerm(values: { term?: string }): TermFormErrors {
  return { term: entryError(values.term, "the word or phrase") };
}

export interface ReplacementFormErrors {
  spoken?: string;
  written?: string;
}

export function validateReplacement(values: { spoken?: string; written?: string }): ReplacementFormErrors {
  const errors: ReplacementFormErrors = {
    spoken: entryError(values.spoken, "what you say"),
    written: entryError(values.written, "what to write"),
  };
  if (!errors.spoken && !errors.written && values.spoken?.trim() === values.written?.trim()) {
    errors.written = "Write something other than what is said";
  }
  return errors;
}

export interface ImportFormErrors {
  file?: string;
}

/** The import form: one file, which exists and is at most {@link MAX_IMPORT_BYTES}
 * (`size` gives its size in bytes, `undefined` when it is not a file). */
export function validateImport(
  values: { file?: string[] },
  size: (file: string) => number | undefined,
): ImportFormErrors {
  const file = values.file?.[0];
  if (!file) return { file: "Choose a CSV file" };
  const bytes = size(file);
  if (bytes === undefined) return { file: "This file does not exist" };
  if (bytes > MAX_IMPORT_BYTES) return { file: "The file is larger than 1 MB" };
  return {};
}
