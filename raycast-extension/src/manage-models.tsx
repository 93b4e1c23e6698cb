import { Action, ActionPanel, Alert, Color, Icon, Keyboard, List, Toast, confirmAlert, showToast } from "@raycast/api";
import { usePromise } from "@raycast/utils";
import { useEffect, useState } from "react";
import type { ModelStatus } from "./lib/engine";
import { formatBytes } from "./lib/format";
import { defaultModel, downloadWithToast, engine, setDefaultModel, showFailure } from "./lib/raycast";

const STATE: Record<ModelStatus["state"], { text: string; color: Color }> = {
  not_downloaded: { text: "Not Downloaded", color: Color.SecondaryText },
  downloading: { text: "Downloading", color: Color.Blue },
  downloaded: { text: "Downloaded", color: Color.Green },
  loading: { text: "Loading", color: Color.Orange },
  ready: { text: "Loaded", color: Color.Purple },
};

/** The catalog: state, sizes, RAM, the recommendation; download, delete, set default. */
export default function Command() {
  const client = engine();
  const { data, isLoading, revalidate } = usePromise(() => client.models(), [], {
    onError: (e) => void showFailure(e, client),
  });
  const [chosen, setChosen] = useState<string>();
  useEffect(() => {
    defaultModel().then(setChosen);
  }, []);
  // Keep states fresh while something changes in the daemon.
  useEffect(() => {
    if (!data?.some((m) => m.state === "downloading" || m.state === "loading")) return;
    const timer = setInterval(revalidate, 1000);
    return () => clearInterval(timer);
  }, [data]);

  const models = data ?? [];
  const section = (title: string, audio: boolean) => (
    <List.Section title={title}>
      {models
        .filter((m) => m.capabilities.includes("audio") === audio)
        .map((m) => (
          <ModelItem
            key={m.id}
            model={m}
            isDefault={m.id === chosen}
            onChange={revalidate}
            onDefault={async () => {
              await setDefaultModel(m.id);
              setChosen(m.id);
              await showToast({ style: Toast.Style.Success, title: `${m.name} is the default model` });
            }}
          />
        ))}
    </List.Section>
  );
  return (
    <List isLoading={isLoading} searchBarPlaceholder="Search models">
      {section("Text Models", false)}
      {section("Speech Models", true)}
    </List>
  );
}

function ModelItem(props: {
  model: ModelStatus;
  isDefault: boolean;
  onChange: () => void;
  onDefault: () => Promise<void>;
}) {
  const m = props.model;
  const client = engine();
  const state = STATE[m.state];
  const onDisk = m.state !== "not_downloaded";
  const accessories: List.Item.Accessory[] = [];
  if (m.recommended)
    accessories.push({
      tag: { value: "Recommended", color: Color.Yellow },
      tooltip: "Recommended for this Mac's memory",
    });
  if (props.isDefault) accessories.push({ icon: Icon.Star, tooltip: "Default model" });
  accessories.push({ text: formatBytes(m.download_bytes ?? (m.disk_bytes || null)), tooltip: "Download size" });
  if (m.ram_bytes) accessories.push({ text: `RAM ${formatBytes(m.ram_bytes)}`, tooltip: "Memory while in use" });
  accessories.push({ tag: { value: m.in_use ? "In Use" : state.text, color: state.color } });
  const isHub = m.source.kind === "hub";
  const isText = m.capabilities.includes("text");
  return (
    <List.Item
      title={m.name}
      subtitle={m.id}
      icon={isText ? Icon.Text : Icon.Microphone}
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
          {isText ? <Action title="Set as Default" icon={Icon.Star} onAction={props.onDefault} /> : null}
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
                await client.unload().catch((e) => showFailure(e, client));
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
