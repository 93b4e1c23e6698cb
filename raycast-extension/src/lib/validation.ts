/**
 * Form validation, as the forms show it (Form fields' `error`). Pure (no `@raycast/api`),
 * so vitest checks it.
 */
import type { RefineMode } from "./engine";

export interface RefineFormErrors {
  text?: string;
  prompt?: string;
}

/** The Refine form: some text, and an instruction when the mode is Custom Prompt. */
export function validateRefine(values: {
  text?: string;
  mode?: RefineMode | string;
  prompt?: string;
}): RefineFormErrors {
  const errors: RefineFormErrors = {};
  if (!values.text?.trim()) errors.text = "Enter the text to refine";
  if (values.mode === "custom" && !values.prompt?.trim()) errors.prompt = "Enter the instruction for Custom Prompt";
  return errors;
}

export interface TranscribeFormErrors {
  file?: string;
}

/** The Transcribe form: one file, which exists (`exists` checks; a plain file). */
export function validateTranscribe(
  values: { file?: string[] },
  exists: (file: string) => boolean,
): TranscribeFormErrors {
  const file = values.file?.[0];
  if (!file) return { file: "Choose an audio file" };
  if (!exists(file)) return { file: "This file does not exist" };
  return {};
}

export function hasErrors(errors: object): boolean {
  return Object.values(errors).some(Boolean);
}
