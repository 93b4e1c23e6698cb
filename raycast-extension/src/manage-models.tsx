import { Action, ActionPanel, Alert, Color, Icon, Keyboard, List, Toast, confirmAlert, showToast } from "@raycast/api";
import { usePromise } from "@raycast/utils";
import { useEffect, useState } from "react";
import type { ModelStatus } from "./lib/engine";
import { describeError } from "./lib/errors";
import { FailureActions } from "./lib/failure-actions";
import { formatBytes } from "./lib/format";
import {
  ModelChoice,
  ModelKind,
  SOURCE_TEXT,
  defaultAction,
  listens,
  modelRow,
  names,
  setDefaultNote,
} from "./lib/models";
import {
  downloadWithToast,
  engine,
  explicitDefault,
  modelPreference,
  setStoredDefault,
  showFailure,
} from "./lib/raycast";

const STATE: Record<ModelStatus["state"], { text: string; color: Color }> = {
  not_downloaded: { text: "Not Downloaded", color: Color.SecondaryText },
  downloading: { text: "Downloading", color: Color.Blue },
  downloaded: { text: "Downloaded", color: Color.Green },
  loading: { text: "Loading", color: Color.Orange },
  ready: { text: "Loaded", color: Color.Purple },
};

type Defaults = Partial<Record<ModelKind, ModelChoice>>;

/** The catalog: state, sizes, RAM, the recommendation; download, delete, set default
 * (text and speech models each have one; the preferences come first). */
export default function Command() {
  const client = engine();
  const { data, isLoading, error, revalidate } = usePromise(() => client.models(), [], {
    onError: (e) => void showFailure(e, client, { retry: () => revalidate() }),
  });
  const [defaults, setDefaults] = useState<Defaults>({});
  const refreshDefaults = async () =>
    setDefaults({ text: await explicitDefault("text"), audio: await explicitDefault("audio") });
  useEffect(() => {
    void refreshDefaults();
  }, []);
  // Keep states fresh while something changes in the daemon.
  useEffect(() => {
    if (!data?.some((m) => m.state === "downloading" || m.state === "loading")) return;
    const timer = setInterval(revalidate, 1000);
    return () => clearInterval(timer);
  }, [data]);

  const setDefault = async (m: ModelStatus, kind: ModelKind) => {
    await setStoredDefault(kind, m.id);
    await refreshDefaults();
    const note = setDefaultNote(kind, m.id, modelPreference(kind));
    await showToast({
      style: note ? Toast.Style.Failure : Toast.Style.Success,
      title: `${m.name} is the default model`,
      message: note ?? (kind === "audio" ? "Speech model, for Transcribe" : "Text model, for Refine"),
    });
  };

  const models = data ?? [];
  const section = (title: string, kind: ModelKind) => (
    <List.Section title={title}>
      {models
        .filter((m) => m.capabilities.includes(kind))
        .map((m) => (
          <ModelItem
            key={`${kind}:${m.id}`}
            model={m}
            kind={kind}
            defaultChoice={names(m, defaults[kind]?.id) ? defaults[kind] : undefined}
            onChange={revalidate}
            onDefault={() => setDefault(m, kind)}
          />
        ))}
    </List.Section>
  );
  if (error && !data) {
    const failure = describeError(error, { retryable: true });
    return (
      <List isLoading={isLoading}>
        <List.EmptyView
          icon={Icon.Warning}
          title={failure.title}
          description={failure.message}
          actions={
            <ActionPanel>
              <FailureActions failure={failure} handlers={{ retry: () => revalidate() }} />
            </ActionPanel>
          }
        />
      </List>
    );
  }
  return (
    <List isLoading={isLoading} searchBarPlaceholder="Search models">
      {section("Text Models", "text")}
      {section("Speech Models", "audio")}
    </List>
  );
}

function ModelItem(props: {
  model: ModelStatus;
  /** The section it is listed in (a model that listens is in both). */
  kind: ModelKind;
  /** Set when this model is its kind's default (and by what). */
  defaultChoice?: ModelChoice;
  onChange: () => void;
  onDefault: () => Promise<void>;
}) {
  const m = props.model;
  const client = engine();
  const state = STATE[m.state];
  const onDisk = m.state !== "not_downloaded";
  const kind = props.kind;
  const row = modelRow(m);
  const accessories: List.Item.Accessory[] = [];
  if (listens(m)) accessories.push({ tag: "Listens", tooltip: "Transcribes (with the language) and refines" });
  if (m.recommended)
    accessories.push({
      tag: { value: "Recommended", color: Color.Yellow },
      tooltip: "Recommended for this Mac's memory",
    });
  if (props.defaultChoice)
    accessories.push({
      icon: Icon.Star,
      tooltip: `Default ${kind === "audio" ? "speech" : "text"} model (${SOURCE_TEXT[props.defaultChoice.source]})`,
    });
  if (m.source.kind === "local") accessories.push({ tag: "Local", tooltip: m.source.path });
  accessories.push({ text: formatBytes(m.download_bytes ?? (m.disk_bytes || null)), tooltip: "Download size" });
  if (row.ram) accessories.push({ text: row.ram.text, tooltip: row.ram.tooltip });
  accessories.push({ tag: { value: m.in_use ? "In Use" : state.text, color: state.color } });
  const isHub = m.source.kind === "hub";
  const makeDefault = defaultAction(m);
  return (
    <List.Item
      title={m.name}
      subtitle={row.subtitle}
      icon={kind === "text" ? Icon.Text : Icon.Microphone}
      keywords={[m.id, ...m.aliases]}
      accessories={accessories}
      actions={
        <ActionPanel>
          {m.state === "not_downloaded" && isHub ? (
            <Action
              title="Download"
              icon={Icon.Download}
              onAction={() => void downloadWithToast(client, m.id, props.onChange)}
            />
          ) : null}
          {m.state === "downloading" ? (
            <Action
              title="Cancel Download"
              icon={Icon.XMarkCircle}
              onAction={async () => {
                await client.cancelDownload(m.id).catch((e) => showFailure(e, client));
                props.onChange();
              }}
            />
          ) : null}
          {makeDefault === "set" ? <Action title="Set as Default" icon={Icon.Star} onAction={props.onDefault} /> : null}
          {makeDefault === "download-and-set" ? (
            <Action
              title="Download and Set as Default"
              icon={Icon.Star}
              onAction={async () => {
                // Not on disk: the default must be usable, so download first.
                if (await downloadWithToast(client, m.id, props.onChange)) await props.onDefault();
              }}
            />
          ) : null}
          {onDisk && m.state !== "ready" && m.state !== "downloading" ? (
            <Action
              title="Load Now"
              icon={Icon.Bolt}
              onAction={async () => {
                const toast = await showToast({ style: Toast.Style.Animated, title: `Loading ${m.name}` });
                try {
                  await client.load(m.id);
                  toast.style = Toast.Style.Success;
                  toast.title = `${m.name} is loaded`;
                } catch (e) {
                  await toast.hide();
                  await showFailure(e, client);
                }
                props.onChange();
              }}
            />
          ) : null}
          {m.state === "ready" ? (
            <Action
              title="Unload"
              icon={Icon.Eject}
              onAction={async () => {
                const toast = await showToast({ style: Toast.Style.Animated, title: "Unloading" });
                try {
                  const { unloaded } = await client.unload();
                  toast.style = Toast.Style.Success;
                  toast.title = unloaded.length ? `Unloaded ${unloaded.join(", ")}` : "Nothing was loaded";
                  toast.message = unloaded.length ? "Its memory is free." : undefined;
                } catch (e) {
                  await toast.hide();
                  await showFailure(e, client);
                }
                props.onChange();
              }}
            />
          ) : null}
          {onDisk && isHub && m.state !== "downloading" ? (
            <Action
              title="Delete"
              icon={Icon.Trash}
              style={Action.Style.Destructive}
              shortcut={{ modifiers: ["ctrl"], key: "x" }}
              onAction={async () => {
                const ok = await confirmAlert({
                  title: `Delete ${m.name}?`,
                  message: `${formatBytes(m.disk_bytes)} will be freed. You can download it again later.`,
                  primaryAction: { title: "Delete", style: Alert.ActionStyle.Destructive },
                });
                if (!ok) return;
                try {
                  await client.deleteModel(m.id);
                  await showToast({ style: Toast.Style.Success, title: `Deleted ${m.name}` });
                } catch (e) {
                  await showFailure(e, client);
                }
                props.onChange();
              }}
            />
          ) : null}
          <Action
            title="Refresh"
            icon={Icon.ArrowClockwise}
            shortcut={Keyboard.Shortcut.Common.Refresh}
            onAction={props.onChange}
          />
        </ActionPanel>
      }
    />
  );
}
