import { Action, ActionPanel, Icon } from "@raycast/api";
import { ACTION_TITLE, ErrorAction, Failure } from "./errors";
import { FailureHandlers, availableActions, runFailureAction } from "./raycast";

const ICONS: Record<ErrorAction, Icon> = {
  retry: Icon.ArrowClockwise,
  download: Icon.Download,
  "manage-models": Icon.List,
  "open-preferences": Icon.Gear,
  "choose-file": Icon.Document,
  "transcribe-instead": Icon.Microphone,
  "copy-error": Icon.Clipboard,
};

/** A failure's actions in a view's action panel, so they stay after the toast fades. */
export function FailureActions(props: { failure: Failure; handlers: FailureHandlers }) {
  return (
    <ActionPanel.Section title={props.failure.title}>
      {availableActions(props.failure, props.handlers).map((a) => (
        <Action
          key={a}
          title={ACTION_TITLE[a]}
          icon={ICONS[a]}
          onAction={() => runFailureAction(a, props.failure, props.handlers)}
        />
      ))}
    </ActionPanel.Section>
  );
}

/** Stop: aborts the running request, and the daemon cancels the work when its client
 * leaves; `stopRequested` tells the view the end was asked for, not a failure. */
export function StopAction(props: {
  controller: { current: AbortController | undefined };
  stopRequested: { current: boolean };
}) {
  return (
    <Action
      title="Stop"
      icon={Icon.Stop}
      onAction={() => {
        props.stopRequested.current = true;
        props.controller.current?.abort();
      }}
    />
  );
}
