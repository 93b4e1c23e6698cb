import { Action, ActionPanel, Detail, Form, Icon, getSelectedFinderItems, useNavigation } from "@raycast/api";
import { useEffect, useRef, useState } from "react";
import * as path from "node:path";
import type { Segment, Transcript } from "./lib/engine";
import { segmentsMarkdown, toSrt, toText } from "./lib/format";
import { engine, showFailure } from "./lib/raycast";
import { RefineView } from "./lib/refine-view";

const AUDIO = new Set([".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".mp4", ".mov", ".aiff"]);

/** Transcribe the audio file selected in Finder, else one picked in a form. */
export default function Command() {
  const [file, setFile] = useState<string | null>();
  useEffect(() => {
    getSelectedFinderItems()
      .then((items) => setFile(items.find((i) => AUDIO.has(path.extname(i.path).toLowerCase()))?.path ?? null))
      .catch(() => setFile(null));
  }, []);
  if (file === undefined) return <Form isLoading />;
  if (file) return <TranscribeView file={file} refine={false} />;
  return <PickFile />;
}

function PickFile() {
  const { push } = useNavigation();
  return (
    <Form
      navigationTitle="Transcribe Audio File"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Transcribe"
            onSubmit={(values: { file: string[]; language: string; refine: boolean }) => {
              if (values.file?.[0]) {
                push(<TranscribeView file={values.file[0]} language={values.language} refine={values.refine} />);
              }
            }}
          />
        </ActionPanel>
      }
    >
      <Form.FilePicker id="file" title="Audio File" allowMultipleSelection={false} />
      <Form.TextField id="language" title="Language" placeholder="Detected when empty (e.g. en, de, fr)" />
      <Form.Checkbox id="refine" label="Clean up the transcript with the text model afterwards" defaultValue={false} />
    </Form>
  );
}

function TranscribeView(props: { file: string; language?: string; refine: boolean }) {
  const { push } = useNavigation();
  const [segments, setSegments] = useState<Segment[]>([]);
  const [transcript, setTranscript] = useState<Transcript>();
  const [running, setRunning] = useState(true);
  const controller = useRef<AbortController>(undefined);

  useEffect(() => {
    const abort = new AbortController();
    controller.current = abort;
    const found: Segment[] = [];
    engine()
      .transcribe(props.file, { language: props.language, signal: abort.signal }, (s) => {
        found.push(s);
        setSegments([...found]);
      })
      .then((t) => {
        setTranscript(t);
        setSegments(t.segments);
        if (props.refine && t.text.trim()) push(<RefineView text={t.text} mode="clean" />);
      })
      .catch((e) => {
        if (!abort.signal.aborted) void showFailure(e);
      })
      .finally(() => setRunning(false));
    return () => abort.abort();
  }, [props.file]);

  const text = transcript?.text.trim() ?? toText(segments);
  const name = path.basename(props.file);
  return (
    <Detail
      isLoading={running}
      navigationTitle={name}
      markdown={
        segments.length ? segmentsMarkdown(segments) : running ? `_Transcribing ${name}…_` : "_No speech found._"
      }
      metadata={
        transcript ? (
          <Detail.Metadata>
            <Detail.Metadata.Label title="File" text={name} />
            <Detail.Metadata.Label title="Language" text={transcript.language} />
            <Detail.Metadata.Label title="Duration" text={`${transcript.duration.toFixed(1)} s`} />
            <Detail.Metadata.Label title="Model" text={transcript.model} />
          </Detail.Metadata>
        ) : undefined
      }
      actions={
        <ActionPanel>
          {text ? <Action.CopyToClipboard title="Copy Text" content={text} /> : null}
          {segments.length ? (
            <Action.CopyToClipboard
              title="Copy as SRT"
              content={toSrt(segments)}
              shortcut={{ modifiers: ["cmd", "opt"], key: "s" }}
            />
          ) : null}
          {text ? <Action.Paste title="Paste Text" content={text} /> : null}
          {text && !running ? (
            <Action
              title="Refine Transcript"
              icon={Icon.Wand}
              shortcut={{ modifiers: ["cmd", "shift"], key: "r" }}
              onAction={() => push(<RefineView text={text} mode="clean" />)}
            />
          ) : null}
          {running ? <Action title="Stop" icon={Icon.Stop} onAction={() => controller.current?.abort()} /> : null}
        </ActionPanel>
      }
    />
  );
}
