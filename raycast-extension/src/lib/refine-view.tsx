import { Action, ActionPanel, Clipboard, Detail, Icon, closeMainWindow, showHUD, useNavigation } from "@raycast/api";
import { useEffect, useRef, useState } from "react";
import type { RefineMode, RefineResult } from "./engine";
import { describeError, failureLine } from "./errors";
import { FailureActions, StopAction } from "./failure-actions";
import {
  OUTCOME_LABEL,
  isIncomplete,
  nextTokenBudget,
  outcomeMarker,
  outcomeMarkdown,
  outcomeTitle,
  refineOutcome,
} from "./outcome";
import { MODES, chooseModelFor, engine, modeTitle, prefs, showFailure, temperature } from "./raycast";

export interface RefineRequest {
  text: string;
  mode: RefineMode;
  prompt?: string;
  /** The text came from the selection: offer (and maybe do) Replace Selection. */
  fromSelection?: boolean;
}

/**
 * Streams the refined text into a Detail view as it is generated. A result cut at the
 * token limit, stopped or failed is marked as such (marker, title, metadata), with Copy
 * as the primary action and Continue (a larger token limit) or Retry.
 */
export function RefineView(props: RefineRequest) {
  const { push } = useNavigation();
  const [attempt, setAttempt] = useState(0);
  const [maxTokens, setMaxTokens] = useState<number>();
  const [text, setText] = useState("");
  const [result, setResult] = useState<RefineResult>();
  const [running, setRunning] = useState(true);
  const [stopped, setStopped] = useState(false);
  const [error, setError] = useState<unknown>();
  const [model, setModel] = useState<string>();
  const controller = useRef<AbortController>(undefined);
  const stopRequested = useRef(false);
  const retry = () => setAttempt((a) => a + 1);

  useEffect(() => {
    const abort = new AbortController();
    controller.current = abort;
    stopRequested.current = false;
    setText("");
    setResult(undefined);
    setError(undefined);
    setStopped(false);
    setRunning(true);
    const p = prefs();
    let pieces = "";
    (async () => {
      try {
        const choice = await chooseModelFor("text");
        setModel(choice.id);
        const done = await engine().refine(
          props.text,
          {
            model: choice.id,
            mode: props.mode,
            prompt: props.prompt,
            temperature: temperature(p),
            maxTokens,
            signal: abort.signal,
          },
          (piece) => {
            pieces += piece;
            setText(pieces);
          },
        );
        setText(done.text);
        setResult(done);
        setModel(done.model);
        // Only a complete result replaces the selection by itself.
        if (p.autoReplace && props.fromSelection && done.text && done.stats.stop_reason === "eos") {
          await closeMainWindow();
          await Clipboard.paste(done.text);
          await showHUD("Replaced the selection");
        }
      } catch (e) {
        if (abort.signal.aborted) {
          if (stopRequested.current) setStopped(true);
        } else {
          setError(e);
          await showFailure(e, engine(), { retry });
        }
      } finally {
        setRunning(false);
      }
    })();
    return () => abort.abort();
  }, [props.text, props.mode, props.prompt, attempt, maxTokens]);

  const outcome = refineOutcome({ running, result, stopped, error });
  const incomplete = isIncomplete(outcome);
  const failure = error !== undefined ? describeError(error, { retryable: true }) : undefined;
  const final = result?.text ?? text;
  const stats = result?.stats;
  const next = outcome === "truncated" && result ? nextTokenBudget(result.max_tokens) : undefined;
  const marker = outcomeMarker(outcome, "text", {
    maxTokens: result?.max_tokens,
    failure: failure ? failureLine(failure) : undefined,
    partial: !!final,
  });

  const paste = final ? <Action.Paste key="paste" title="Paste" content={final} /> : null;
  const copy = final ? <Action.CopyToClipboard key="copy" title="Copy" content={final} /> : null;
  return (
    <Detail
      isLoading={running}
      navigationTitle={outcomeTitle(modeTitle(props.mode), outcome)}
      markdown={outcomeMarkdown(final || (running ? "_Refining…_" : ""), marker)}
      metadata={
        running ? undefined : (
          <Detail.Metadata>
            <Detail.Metadata.Label title="Result" text={OUTCOME_LABEL[outcome]} />
            {result || model ? <Detail.Metadata.Label title="Model" text={result?.model ?? model} /> : null}
            <Detail.Metadata.Label title="Mode" text={modeTitle(props.mode)} />
            {stats ? (
              <Detail.Metadata.Label
                title="Tokens"
                text={`${stats.prompt_tokens} in · ${stats.generated_tokens} out (limit ${result?.max_tokens})`}
              />
            ) : null}
            {stats ? (
              <Detail.Metadata.Label title="Speed" text={`${stats.decode_tokens_per_sec.toFixed(1)} tokens/s`} />
            ) : null}
          </Detail.Metadata>
        )
      }
      actions={
        <ActionPanel>
          {running ? <StopAction controller={controller} stopRequested={stopRequested} /> : null}
          {/* Incomplete: Copy leads, never Paste. */}
          {incomplete ? [copy, paste] : [paste, copy]}
          {next ? (
            <Action
              title={`Continue with ${next}-Token Limit`}
              icon={Icon.Forward}
              shortcut={{ modifiers: ["cmd"], key: "return" }}
              onAction={() => setMaxTokens(next)}
            />
          ) : null}
          {outcome === "stopped" || (outcome === "truncated" && !next) ? (
            <Action title="Retry" icon={Icon.ArrowClockwise} onAction={retry} />
          ) : null}
          {failure ? <FailureActions failure={failure} handlers={{ retry, downloaded: retry }} /> : null}
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
