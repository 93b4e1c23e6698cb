import { Action, ActionPanel, Detail, Form, useNavigation } from "@raycast/api";
import { useEffect, useState } from "react";
import type { RefineMode } from "./lib/engine";
import { MODES, prefs, readInput } from "./lib/raycast";
import { RefineView } from "./lib/refine-view";
import { RefineFormErrors, hasErrors, validateRefine } from "./lib/validation";

/** Refine the selection (or clipboard) right away; without input, a form to type it. */
export default function Command() {
  const p = prefs();
  const mode = p.refineMode ?? "clean";
  const prompt = p.customPrompt?.trim() || undefined;
  const [input, setInput] = useState<{ text: string; fromSelection: boolean } | null>();

  useEffect(() => {
    readInput(p.inputSource).then((i) => setInput(i ?? null));
  }, []);

  if (input === undefined) return <Detail isLoading markdown="" />;
  if (input && (mode !== "custom" || prompt)) {
    return <RefineView text={input.text} mode={mode} prompt={prompt} fromSelection={input.fromSelection} />;
  }
  return <RefineForm text={input?.text ?? ""} mode={mode} prompt={prompt} />;
}

function RefineForm(props: { text: string; mode: RefineMode; prompt?: string }) {
  const { push } = useNavigation();
  const [mode, setMode] = useState<string>(props.mode);
  const [errors, setErrors] = useState<RefineFormErrors>(
    // Custom Prompt without an instruction (none in the preferences): say so at once.
    props.mode === "custom" && !props.prompt ? { prompt: validateRefine({ text: "x", mode: "custom" }).prompt } : {},
  );
  return (
    <Form
      navigationTitle="Refine Text"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Refine"
            onSubmit={(values: { text: string; mode: RefineMode; prompt?: string }) => {
              const found = validateRefine(values);
              setErrors(found);
              if (hasErrors(found)) return;
              push(<RefineView text={values.text} mode={values.mode} prompt={values.prompt?.trim() || undefined} />);
            }}
          />
        </ActionPanel>
      }
    >
      <Form.TextArea
        id="text"
        title="Text"
        placeholder="Text to refine"
        defaultValue={props.text}
        error={errors.text}
        onChange={() => setErrors((e) => ({ ...e, text: undefined }))}
      />
      <Form.Dropdown id="mode" title="Mode" value={mode} onChange={setMode}>
        {MODES.map((m) => (
          <Form.Dropdown.Item key={m.value} value={m.value} title={m.title} />
        ))}
      </Form.Dropdown>
      {mode === "custom" ? (
        <Form.TextField
          id="prompt"
          title="Prompt"
          placeholder="What to do with the text"
          defaultValue={props.prompt}
          error={errors.prompt}
          onChange={(v) =>
            setErrors((e) => ({ ...e, prompt: validateRefine({ text: "x", mode: "custom", prompt: v }).prompt }))
          }
        />
      ) : null}
    </Form>
  );
}
