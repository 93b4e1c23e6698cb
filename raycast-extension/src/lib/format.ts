/** Pure text helpers shared by the commands (no `@raycast/api` import). */
import type { Segment } from "./engine";

/** The file extensions Transcribe and Dictate take from a Finder selection. */
export const AUDIO_EXTENSIONS = new Set([
  ".wav",
  ".mp3",
  ".m4a",
  ".aac",
  ".flac",
  ".ogg",
  ".oga",
  ".opus",
  ".mp4",
  ".mov",
  ".aiff",
]);

/** Bytes as B / KB / MB / GB (powers of 1000, like Finder). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let unit = 0;
  while (v >= 1000 && unit < units.length - 1) {
    v /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${v.toFixed(1)} ${units[unit]}`;
}

/** `HH:MM:SS,mmm` (SRT) or with `.` (display, WebVTT). */
export function formatTimestamp(seconds: number, marker = ","): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (v: number, n = 2) => String(v).padStart(n, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}${marker}${pad(ms % 1000, 3)}`;
}

/** `[MM:SS]` for a list of segments on screen. */
export function shortTimestamp(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** The segments as SubRip subtitles. */
export function toSrt(segments: Segment[]): string {
  return segments
    .map((s, i) => `${i + 1}\n${formatTimestamp(s.start)} --> ${formatTimestamp(s.end)}\n${s.text.trim()}\n`)
    .join("\n");
}

/** The segments' text as one paragraph. */
export function toText(segments: Segment[]): string {
  return segments
    .map((s) => s.text.trim())
    .filter(Boolean)
    .join(" ");
}

/** The segments as Markdown lines with their start times, for a Detail view. */
export function segmentsMarkdown(segments: Segment[]): string {
  return segments.map((s) => `\`${shortTimestamp(s.start)}\` ${s.text.trim()}`).join("\n\n");
}
