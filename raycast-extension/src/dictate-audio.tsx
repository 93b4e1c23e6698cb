import {
  Action,
  ActionPanel,
  Color,
  Detail,
  Form,
  Icon,
  Keyboard,
  List,
  getFrontmostApplication,
  getSelectedFinderItems,
  useNavigation,
} from "@raycast/api";
import { useEffect, useRef, useState } from "react";
import * as fs from "node:fs";
import * as path from "node:path";
import type { DictateResult, Edit, Segment } from "./lib/engine";
import {
  DictateProgress,
  audioText,
  dictateProgressText,
  stageLine,
  timingRows,
  warningTitle,
  warningsMarkdown,
} from "./lib/dictate";
import { editMarkdown, editSpans, editTitle, editsMarkdown, editsMatch, highlightSpan, revertEdits } from "./lib/edits";
import { describeError, failureLine } from "./lib/errors";
import { FailureActions, StopAction } from "./lib/failure-actions";
import { AUDIO_EXTENSIONS, segmentsMarkdown, toText } from "./lib/format";
import { OUTCOME_LABEL, outcomeMarker, outcomeMarkdown, outcomeTitle, transcribeOutcome } from "./lib/outcome";
import { positionText } from "./lib/progress";
import { engine, explicitDefault, prefs, showFailure } from "./lib/raycast";
import { TranscribeFormErrors, hasErrors, validateTranscribe } from "./lib/validation";
import { TranscribeView } from "./transcribe-audio";

interface DictateSettings {
  file: string;
  language?: string;
  /** The app the text is for; the cleanup writes for it. */
  appName?: string;
  refine: boolean;
  vad: boolean;
  vocabulary: boolean;
}

/** The settings from the preferences; the app name, when the preference is empty, is
 * the frontmost app's (where Paste puts the text). */
async function defaultSettings(file: string): Promise<DictateSettings> {
  const p = prefs();
  let appName = p.appName?.trim() || undefined;
  if (!appName) {
    appName = await getFrontmostApplication()
      .then((a) => a.localizedName || a.name || undefined)
      .catch(() => undefined);
  }
  return {
    file,
    appName,
    refine: p.cleanUp ?? true,
    vad: p.trimSilence ?? true,
    vocabulary: p.useVocabulary ?? true,
  };
}

/** Dictate the audio file selected in Finder, else one picked in a form: its speech
 * transcribed with your vocabulary, cleaned up, with the edits the cleanup made. */
export default function Command() {
  const [settings, setSettings] = useState<DictateSettings | null>();
  useEffect(() => {
    getSelectedFinderItems()
      .then((items) => items.find((i) => AUDIO_EXTENSIONS.has(path.extname(i.path).toLowerCase()))?.path)
      .catch(() => undefined)
      .then(async (file) => setSettings(file ? await defaultSettings(file) : null));
  }, []);
  if (settings === undefined) return <Form isLoading />;
  if (settings) return <DictateView settings={settings} />;
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
  const [defaults, setDefaults] = useState<DictateSettings>();
  useEffect(() => {
    void defaultSettings("").then(setDefaults);
  }, []);
  if (!defaults) return <Form isLoading navigationTitle="Dictate Audio File" />;
  return (
    <Form
      navigationTitle="Dictate Audio File"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Dictate"
            onSubmit={(values: { file: string[]; language: string; appName: string; refine: boolean }) => {
              const found = validateTranscribe(values, isFile);
              setErrors(found);
              if (hasErrors(found)) return;
              push(
                <DictateView
                  settings={{
                    ...defaults,
                    file: values.file[0],
                    language: values.language,
                    appName: values.appName,
                    refine: values.refine,
                  }}
                />,
              );
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
      <Form.Checkbox id="refine" label="Clean up the transcript with the text model" defaultValue={defaults.refine} />
      <Form.TextField
        id="appName"
        title="For App"
        placeholder="The app the text is for (e.g. Mail), optional"
        defaultValue={defaults.appName ?? ""}
      />
    </Form>
  );
}

function DictateView(props: { settings: DictateSettings }) {
  const s = props.settings;
  const { push } = useNavigation();
  const [attempt, setAttempt] = useState(0);
  const [progress, setProgress] = useState<DictateProgress>({ refine: s.refine, vad: s.vad });
  const [segments, setSegments] = useState<Segment[]>([]);
  const [cleanup, setCleanup] = useState("");
  const [result, setResult] = useState<DictateResult>();
  const [undone, setUndone] = useState<number[]>([]);
  const [running, setRunning] = useState(true);
  const [stopped, setStopped] = useState(false);
  const [error, setError] = useState<unknown>();
  const controller = useRef<AbortController>(undefined);
  const stopRequested = useRef(false);
  const retry = () => setAttempt((a) => a + 1);
  const chooseFile = () => push(<PickFile />);
  const transcribe = () => push(<TranscribeView file={s.file} language={s.language} refine={false} />);

  useEffect(() => {
    const abort = new AbortController();
    controller.current = abort;
    stopRequested.current = false;
    setSegments([]);
    setCleanup("");
    setResult(undefined);
    setUndone([]);
    setError(undefined);
    setStopped(false);
    setRunning(true);
    let current: DictateProgress = { refine: s.refine, vad: s.vad };
    setProgress(current);
    const update = (p: Partial<DictateProgress>) => {
      current = { ...current, ...p };
      setProgress(current);
    };
    const found: Segment[] = [];
    let text = "";
    // Until a stage shows output: ask the daemon whether it loads a model.
    const poll = setInterval(() => {
      const waiting =
        (current.stage === "transcribing" && !found.length) || (current.stage === "refining" && !text.length);
      if (!waiting) return;
      engine()
        .status()
        .then((st) => {
          if (!abort.signal.aborted) update({ loading: st.loading ?? undefined });
        })
        .catch(() => {});
    }, 500);
    (async () => {
      try {
        const [speech, textModel] = await Promise.all([explicitDefault("audio"), explicitDefault("text")]);
        const r = await engine().dictate(
          s.file,
          {
            speechModel: speech?.id,
            textModel: textModel?.id,
            language: s.language,
            refine: s.refine,
            vad: s.vad,
            vocabulary: s.vocabulary,
            appName: s.appName,
            signal: abort.signal,
          },
          (e) => {
            switch (e.type) {
              case "stage":
                update({ stage: e.stage, loading: undefined, stageStart: current.elapsed });
                break;
              case "progress":
                update({ elapsed: e.elapsed });
                break;
              case "duration":
                update({ duration: e.seconds });
                break;
              case "segment":
                found.push(e.segment);
                setSegments([...found]);
                update({ position: e.segment.end, loading: undefined });
                break;
              case "text":
                text += e.delta;
                setCleanup(text);
                if (current.loading) update({ loading: undefined });
                break;
            }
          },
        );
        setResult(r);
        setSegments(r.segments);
      } catch (e) {
        if (abort.signal.aborted) {
          if (stopRequested.current) setStopped(true);
        } else {
          setError(e);
          await showFailure(e, engine(), { retry, chooseFile, transcribe });
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
  }, [s.file, attempt]);

  const outcome = transcribeOutcome({ running, done: !!result, stopped, error });
  const failure =
    error !== undefined ? describeError(error, { retryable: true, audioFile: true, transcribe: true }) : undefined;
  const name = path.basename(s.file);
  const undoable = !!result && result.edits.length > 0 && editsMatch(result.text, result.edits);
  const text = result ? revertEdits(result.text, undoable ? result.edits : [], undone) : "";
  const partial = cleanup.trim() || toText(segments);
  const position = progress.position !== undefined ? positionText(progress.position, progress.duration) : undefined;

  let markdown: string;
  if (running) {
    const body = progress.stage === "refining" && cleanup ? cleanup : segmentsMarkdown(segments);
    markdown = [`**${dictateProgressText(progress)}**`, stageLine(progress), body].filter(Boolean).join("\n\n");
  } else if (result) {
    markdown = resultMarkdown(result, text, undone);
  } else {
    const body = cleanup.trim() || segmentsMarkdown(segments);
    markdown = outcomeMarkdown(
      body,
      outcomeMarker(outcome, "transcript", {
        failure: failure ? failureLine(failure) : undefined,
        position,
        partial: !!body,
      }),
    );
  }
  const title = running ? `${name} · ${dictateProgressText(progress)}` : outcomeTitle(name, outcome);
  const reviewEdits = () =>
    result && push(<EditsList result={result} undone={undone} onChange={setUndone} undoable={undoable} />);

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
            {result ? <Detail.Metadata.Label title="Language" text={result.language} /> : null}
            {result ? <Detail.Metadata.Label title="Audio" text={audioText(result)} /> : null}
            {!result && progress.duration ? (
              <Detail.Metadata.Label title="Audio" text={`${progress.duration.toFixed(1)} s`} />
            ) : null}
            {result ? <Detail.Metadata.Label title="Speech Model" text={result.speech_model} /> : null}
            {result ? (
              <Detail.Metadata.Label title="Text Model" text={result.text_model ?? "None (no clean-up)"} />
            ) : null}
            {s.appName ? <Detail.Metadata.Label title="For App" text={s.appName} /> : null}
            {result ? (
              <Detail.Metadata.Label
                title="Edits"
                text={undone.length ? `${result.edits.length} (${undone.length} undone)` : `${result.edits.length}`}
              />
            ) : null}
            {result?.warnings.length ? (
              <Detail.Metadata.TagList title="Warnings">
                {result.warnings.map((w) => (
                  <Detail.Metadata.TagList.Item key={w.code} text={warningTitle(w)} color={Color.Orange} />
                ))}
              </Detail.Metadata.TagList>
            ) : null}
            {result ? <Detail.Metadata.Separator /> : null}
            {result
              ? timingRows(result.timings).map((r) => (
                  <Detail.Metadata.Label key={r.title} title={`${r.title} Time`} text={r.text} />
                ))
              : null}
          </Detail.Metadata>
        )
      }
      actions={
        <ActionPanel>
          {running ? <StopAction controller={controller} stopRequested={stopRequested} /> : null}
          {text ? <Action.Paste title="Paste Text" content={text} /> : null}
          {text ? <Action.CopyToClipboard title="Copy Text" content={text} /> : null}
          {!result && partial ? <Action.CopyToClipboard title="Copy Partial Text" content={partial} /> : null}
          {result?.transcript.trim() ? (
            <Action.CopyToClipboard
              title="Copy Transcript"
              content={result.transcript.trim()}
              shortcut={{ modifiers: ["cmd", "shift"], key: "t" }}
            />
          ) : null}
          {result?.edits.length ? (
            <Action
              title="Review Edits"
              icon={Icon.BulletPoints}
              shortcut={Keyboard.Shortcut.Common.Edit}
              onAction={reviewEdits}
            />
          ) : null}
          {undone.length ? (
            <Action
              title="Redo All Edits"
              icon={Icon.ArrowClockwise}
              shortcut={{ modifiers: ["cmd", "shift"], key: "z" }}
              onAction={() => setUndone([])}
            />
          ) : null}
          {outcome === "stopped" ? <Action title="Retry" icon={Icon.ArrowClockwise} onAction={retry} /> : null}
          {failure ? (
            <FailureActions failure={failure} handlers={{ retry, chooseFile, transcribe, downloaded: retry }} />
          ) : null}
          {!running && result ? (
            <Action
              title="Dictate Again"
              icon={Icon.Repeat}
              shortcut={Keyboard.Shortcut.Common.Refresh}
              onAction={retry}
            />
          ) : null}
        </ActionPanel>
      }
    />
  );
}

/** The result: warnings, the text (the undone edits reverted), the edits. */
function resultMarkdown(result: DictateResult, text: string, undone: number[]): string {
  const parts: string[] = [];
  const warnings = warningsMarkdown(result.warnings);
  if (warnings) parts.push(warnings);
  parts.push(text.trim() ? text : "_No speech found._");
  if (result.edits.length) {
    parts.push(
      "---",
      `**Edits** (${result.edits.length}) · ⌘E to review and undo`,
      editsMarkdown(result.edits, undone),
    );
  } else if (result.text.trim()) {
    parts.push("---", "_No edits: the text is the transcript as heard._");
  }
  return parts.join("\n\n");
}

const KIND_ICON: Record<Edit["kind"], { source: Icon; tintColor: Color }> = {
  insert: { source: Icon.PlusCircle, tintColor: Color.Green },
  delete: { source: Icon.MinusCircle, tintColor: Color.Red },
  replace: { source: Icon.Pencil, tintColor: Color.Blue },
};

/** The edits one by one, each shown in the text; undo or redo each, paste the text. */
function EditsList(props: {
  result: DictateResult;
  undone: number[];
  onChange: (undone: number[]) => void;
  undoable: boolean;
}) {
  const { result } = props;
  const [undone, setUndone] = useState<number[]>(props.undone);
  const change = (next: number[]) => {
    setUndone(next);
    props.onChange(next);
  };
  const text = revertEdits(result.text, props.undoable ? result.edits : [], undone);
  const spans = editSpans(result.edits, props.undoable ? undone : []);
  const kept = result.edits.length - undone.length;
  return (
    <List
      isShowingDetail
      navigationTitle={`Edits · ${kept} of ${result.edits.length} kept`}
      searchBarPlaceholder="Search edits"
    >
      {result.edits.map((e, i) => {
        const isUndone = undone.includes(i);
        const detail = [
          props.undoable ? highlightSpan(text, spans[i]) : text,
          "---",
          `${editMarkdown(e)}${isUndone ? " _(undone)_" : ""}`,
        ].join("\n\n");
        return (
          <List.Item
            key={i}
            title={editTitle(e)}
            icon={KIND_ICON[e.kind]}
            keywords={[e.before.trim(), e.after.trim()].filter(Boolean)}
            accessories={isUndone ? [{ tag: { value: "Undone", color: Color.SecondaryText } }] : []}
            detail={<List.Item.Detail markdown={detail} />}
            actions={
              <ActionPanel>
                {props.undoable && !isUndone ? (
                  <Action title="Undo This Edit" icon={Icon.Undo} onAction={() => change([...undone, i])} />
                ) : null}
                {props.undoable && isUndone ? (
                  <Action
                    title="Redo This Edit"
                    icon={Icon.Redo}
                    onAction={() => change(undone.filter((u) => u !== i))}
                  />
                ) : null}
                <Action.Paste title="Paste Text" content={text} />
                <Action.CopyToClipboard title="Copy Text" content={text} />
                {props.undoable && undone.length < result.edits.length ? (
                  <Action
                    title="Undo All Edits"
                    icon={Icon.Undo}
                    shortcut={{ modifiers: ["cmd", "shift"], key: "u" }}
                    onAction={() => change(result.edits.map((_, j) => j))}
                  />
                ) : null}
                {undone.length ? (
                  <Action
                    title="Redo All Edits"
                    icon={Icon.ArrowClockwise}
                    shortcut={{ modifiers: ["cmd", "shift"], key: "z" }}
                    onAction={() => change([])}
                  />
                ) : null}
                <Action.CopyToClipboard
                  title="Copy Transcript"
                  content={result.transcript.trim()}
                  shortcut={{ modifiers: ["cmd", "shift"], key: "t" }}
                />
              </ActionPanel>
            }
          />
        );
      })}
    </List>
  );
}
