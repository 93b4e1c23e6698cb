import { Action, ActionPanel, Detail, Form, Icon, getSelectedFinderItems, useNavigation } from "@raycast/api";
import { useEffect, useRef, useState } from "react";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Segment, Transcript } from "./lib/engine";
import { describeError, failureLine } from "./lib/errors";
import { FailureActions, StopAction } from "./lib/failure-actions";
import { AUDIO_EXTENSIONS, segmentsMarkdown, toSrt, toText } from "./lib/format";
import {
  OUTCOME_LABEL,
  isIncomplete,
  outcomeMarker,
  outcomeMarkdown,
  outcomeTitle,
  transcribeOutcome,
} from "./lib/outcome";
import { TranscribeProgress, phaseFromStatus, positionText, progressText } from "./lib/progress";
import { chooseModelFor, engine, showFailure } from "./lib/raycast";
import { RefineView } from "./lib/refine-view";
import { TranscribeFormErrors, hasErrors, validateTranscribe } from "./lib/validation";

/** Transcribe the audio file selected in Finder, else one picked in a form. */
export default function Command() {
  const [file, setFile] = useState<string | null>();
  useEffect(() => {
    getSelectedFinderItems()
      .then((items) =>
        setFile(items.find((i) => AUDIO_EXTENSIONS.has(path.extname(i.path).toLowerCase()))?.path ?? null),
      )
      .catch(() => setFile(null));
  }, []);
  if (file === undefined) return <Form isLoading />;
  if (file) return <TranscribeView file={file} refine={false} />;
  return <PickFile />;
}

const isFile = (f: string) => {
  try {
    return fs.statSync(f).isFile();
  } catch {
    return false;
  }
};

function PickFile() {
  const { push } = useNavigation();
  const [errors, setErrors] = useState<TranscribeFormErrors>({});
  return (
    <Form
      navigationTitle="Transcribe Audio File"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Transcribe"
            onSubmit={(values: { file: string[]; language: string; refine: boolean }) => {
              const found = validateTranscribe(values, isFile);
              setErrors(found);
              if (hasErrors(found)) return;
              push(<TranscribeView file={values.file[0]} language={values.language} refine={values.refine} />);
            }}
          />
        </ActionPanel>
      }
    >
      <Form.FilePicker
        id="file"
        title="Audio File"
        allowMultipleSelection={false}
        error={errors.file}
        onChange={(files) => setErrors(files.length ? validateTranscribe({ file: files }, isFile) : {})}
      />
      <Form.TextField id="language" title="Language" placeholder="Detected when empty (e.g. en, de, fr)" />
      <Form.Checkbox id="refine" label="Clean up the transcript with the text model afterwards" defaultValue={false} />
    </Form>
  );
}

/** A transcription of `file` (also what Dictate Audio File offers for a recording too
 * long to dictate). */
export function TranscribeView(props: { file: string; language?: string; refine: boolean }) {
  const { push } = useNavigation();
  const [attempt, setAttempt] = useState(0);
  const [segments, setSegments] = useState<Segment[]>([]);
  const [transcript, setTranscript] = useState<Transcript>();
  const [running, setRunning] = useState(true);
  const [stopped, setStopped] = useState(false);
  const [error, setError] = useState<unknown>();
  const [progress, setProgress] = useState<TranscribeProgress>({ phase: "starting" });
  const controller = useRef<AbortController>(undefined);
  const stopRequested = useRef(false);
  const retry = () => setAttempt((a) => a + 1);
  const chooseFile = () => push(<PickFile />);

  useEffect(() => {
    const abort = new AbortController();
    controller.current = abort;
    stopRequested.current = false;
    setSegments([]);
    setTranscript(undefined);
    setError(undefined);
    setStopped(false);
    setRunning(true);
    setProgress({ phase: "starting" });
    const found: Segment[] = [];
    let current: TranscribeProgress = { phase: "starting" };
    const update = (p: Partial<TranscribeProgress>) => {
      current = { ...current, ...p };
      setProgress(current);
    };
    // Until the first segment: ask the daemon whether it loads the model or decodes.
    const poll = setInterval(() => {
      if (found.length || !current.model) return;
      engine()
        .status()
        .then((s) => {
          if (!found.length && !abort.signal.aborted) update({ phase: phaseFromStatus(s, current.model) });
        })
        .catch(() => {});
    }, 500);
    (async () => {
      try {
        const choice = await chooseModelFor("audio");
        const t = await engine().transcribe(
          props.file,
          { model: choice.id, language: props.language, signal: abort.signal },
          (s) => {
            found.push(s);
            setSegments([...found]);
            update({ phase: "transcribing", position: s.end });
          },
          (e) => {
            if (e.type === "start") update({ model: e.model, phase: e.queued ? "queued" : current.phase });
            else if (e.type === "audio") update({ duration: e.duration });
            else update({ elapsed: e.elapsed });
          },
        );
        setTranscript(t);
        setSegments(t.segments);
        if (props.refine && t.text.trim()) push(<RefineView text={t.text} mode="clean" />);
      } catch (e) {
        if (abort.signal.aborted) {
          if (stopRequested.current) setStopped(true);
        } else {
          setError(e);
          await showFailure(e, engine(), { retry, chooseFile });
        }
      } finally {
        clearInterval(poll);
        setRunning(false);
      }
    })();
    return () => {
      clearInterval(poll);
      abort.abort();
    };
  }, [props.file, attempt]);

  const outcome = transcribeOutcome({ running, done: !!transcript, stopped, error });
  const incomplete = isIncomplete(outcome);
  const failure = error !== undefined ? describeError(error, { retryable: true, audioFile: true }) : undefined;
  const text = transcript?.text.trim() ?? toText(segments);
  const name = path.basename(props.file);
  const position = progress.position !== undefined ? positionText(progress.position, progress.duration) : undefined;
  const body = segments.length ? segmentsMarkdown(segments) : outcome === "complete" ? "_No speech found._" : "";
  const markdown = running
    ? `**${progressText(progress)}**${body ? `\n\n${body}` : ""}`
    : outcomeMarkdown(
        body,
        outcomeMarker(outcome, "transcript", {
          failure: failure ? failureLine(failure) : undefined,
          position,
          partial: segments.length > 0,
        }),
      );
  const title = running ? `${name} · ${progressText(progress)}` : outcomeTitle(name, outcome);
  return (
    <Detail
      isLoading={running}
      navigationTitle={title}
      markdown={markdown}
      metadata={
        running ? undefined : (
          <Detail.Metadata>
            <Detail.Metadata.Label title="Result" text={OUTCOME_LABEL[outcome]} />
            <Detail.Metadata.Label title="File" text={name} />
            {transcript ? <Detail.Metadata.Label title="Language" text={transcript.language} /> : null}
            {transcript || progress.duration ? (
              <Detail.Metadata.Label
                title="Duration"
                text={`${(transcript?.duration ?? progress.duration ?? 0).toFixed(1)} s`}
              />
            ) : null}
            {incomplete && position ? <Detail.Metadata.Label title="Reached" text={position} /> : null}
            {transcript || progress.model ? (
              <Detail.Metadata.Label title="Model" text={transcript?.model ?? progress.model} />
            ) : null}
          </Detail.Metadata>
        )
      }
      actions={
        <ActionPanel>
          {running ? <StopAction controller={controller} stopRequested={stopRequested} /> : null}
          {text ? <Action.CopyToClipboard title="Copy Text" content={text} /> : null}
          {segments.length ? (
            <Action.CopyToClipboard
              title="Copy as SRT"
              content={toSrt(segments)}
              shortcut={{ modifiers: ["cmd", "opt"], key: "s" }}
            />
          ) : null}
          {outcome === "stopped" ? <Action title="Retry" icon={Icon.ArrowClockwise} onAction={retry} /> : null}
          {failure ? <FailureActions failure={failure} handlers={{ retry, chooseFile, downloaded: retry }} /> : null}
          {text ? <Action.Paste title="Paste Text" content={text} /> : null}
          {text && !running ? (
            <Action
              title="Refine Transcript"
              icon={Icon.Wand}
              shortcut={{ modifiers: ["cmd", "shift"], key: "r" }}
              onAction={() => push(<RefineView text={text} mode="clean" />)}
            />
          ) : null}
        </ActionPanel>
      }
    />
  );
}
