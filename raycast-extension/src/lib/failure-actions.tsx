import { Action, ActionPanel, Icon } from "@raycast/api";
import { ACTION_TITLE, ErrorAction, Failure } from "./errors";
import { FailureHandlers, availableActions, runFailureAction } from "./raycast";

const ICONS: Record<ErrorAction, Icon> = {
  retry: Icon.ArrowClockwise,
  download: Icon.Download,
  "manage-models": Icon.List,
  "open-preferences": Icon.Gear,
  "choose-file": Icon.Document,
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
