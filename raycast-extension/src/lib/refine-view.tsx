import { Action, ActionPanel, Clipboard, Detail, Icon, closeMainWindow, showHUD, useNavigation } from "@raycast/api";
import { useEffect, useRef, useState } from "react";
import type { RefineMode, RefineResult } from "./engine";
import { MODES, defaultModel, engine, modeTitle, prefs, showFailure, temperature } from "./raycast";

export interface RefineRequest {
  text: string;
  mode: RefineMode;
  prompt?: string;
  /** The text came from the selection: offer (and maybe do) Replace Selection. */
  fromSelection?: boolean;
}

/** Streams the refined text into a Detail view as it is generated. */
export function RefineView(props: RefineRequest) {
  const { push } = useNavigation();
  const [text, setText] = useState("");
  const [result, setResult] = useState<RefineResult>();
  const [running, setRunning] = useState(true);
  const controller = useRef<AbortController>(undefined);

  useEffect(() => {
    const abort = new AbortController();
    controller.current = abort;
    const p = prefs();
    let pieces = "";
    (async () => {
      try {
        const model = await defaultModel();
        const done = await engine().refine(
          props.text,
          { model, mode: props.mode, prompt: props.prompt, temperature: temperature(p), signal: abort.signal },
          (piece) => {
            pieces += piece;
            setText(pieces);
          },
        );
        setText(done.text);
        setResult(done);
        if (p.autoReplace && props.fromSelection && done.text) {
          await closeMainWindow();
          await Clipboard.paste(done.text);
          await showHUD("Replaced the selection");
        }
      } catch (e) {
        if (!abort.signal.aborted) await showFailure(e);
      } finally {
        setRunning(false);
      }
    })();
    return () => abort.abort();
  }, [props.text, props.mode, props.prompt]);

  const final = result?.text ?? text;
  const stats = result?.stats;
  return (
    <Detail
      isLoading={running}
      navigationTitle={modeTitle(props.mode)}
      markdown={final || (running ? "_Refining…_" : "")}
      metadata={
        result && stats ? (
          <Detail.Metadata>
            <Detail.Metadata.Label title="Model" text={result.model} />
            <Detail.Metadata.Label title="Mode" text={modeTitle(props.mode)} />
            <Detail.Metadata.Label title="Tokens" text={`${stats.prompt_tokens} in · ${stats.generated_tokens} out`} />
            <Detail.Metadata.Label title="Speed" text={`${stats.decode_tokens_per_sec.toFixed(1)} tokens/s`} />
          </Detail.Metadata>
        ) : undefined
      }
      actions={
        <ActionPanel>
          {running ? <Action title="Stop" icon={Icon.Stop} onAction={() => controller.current?.abort()} /> : null}
          {final ? <Action.Paste title="Paste" content={final} /> : null}
          {final ? <Action.CopyToClipboard title="Copy" content={final} /> : null}
          {final && props.fromSelection ? (
            <Action
              title="Replace Selection"
              icon={Icon.Replace}
              shortcut={{ modifiers: ["cmd", "shift"], key: "r" }}
              onAction={async () => {
                await closeMainWindow();
                await Clipboard.paste(final);
              }}
            />
          ) : null}
          <ActionPanel.Submenu title="Refine Again as…" icon={Icon.Repeat}>
            {MODES.filter((m) => m.value !== "custom" || props.prompt).map((m) => (
              <Action key={m.value} title={m.title} onAction={() => push(<RefineView {...props} mode={m.value} />)} />
            ))}
          </ActionPanel.Submenu>
        </ActionPanel>
      }
    />
  );
}
