import {
  Action,
  ActionPanel,
  Alert,
  Form,
  Icon,
  Keyboard,
  List,
  Toast,
  confirmAlert,
  showToast,
  useNavigation,
} from "@raycast/api";
import { usePromise } from "@raycast/utils";
import { useState } from "react";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Vocabulary } from "./lib/engine";
import { describeError } from "./lib/errors";
import { FailureActions } from "./lib/failure-actions";
import { engine, showFailure } from "./lib/raycast";
import { hasErrors } from "./lib/validation";
import {
  ImportFormErrors,
  ReplacementFormErrors,
  TermFormErrors,
  addOutcomeTitle,
  entryCount,
  importSummaryText,
  removalMessage,
  removalPreview,
  validateImport,
  validateReplacement,
  validateTerm,
} from "./lib/vocabulary";

/** Called with the vocabulary as the daemon has it after a change. */
type OnChange = (v: Vocabulary) => void;

/** The vocabulary: words to spell your way and spoken forms to write differently; add,
 * remove, import a CSV file. Dictate Audio File uses it. */
export default function Command() {
  const client = engine();
  const [latest, setLatest] = useState<Vocabulary>();
  const [search, setSearch] = useState("");
  const { data, isLoading, error, revalidate } = usePromise(() => client.vocabulary(), [], {
    onError: (e) => void showFailure(e, client, { retry: () => refresh() }),
  });
  const refresh = () => {
    setLatest(undefined);
    revalidate();
  };
  const vocabulary = latest ?? data;

  if (error && !vocabulary) {
    const failure = describeError(error, { retryable: true });
    return (
      <List isLoading={isLoading}>
        <List.EmptyView
          icon={Icon.Warning}
          title={failure.title}
          description={failure.message}
          actions={
            <ActionPanel>
              <FailureActions failure={failure} handlers={{ retry: refresh }} />
            </ActionPanel>
          }
        />
      </List>
    );
  }

  const common = (
    <ActionPanel.Section>
      <Action.Push
        title="Add Term"
        icon={Icon.Plus}
        shortcut={Keyboard.Shortcut.Common.New}
        target={<AddTermForm initial={search} onChange={setLatest} />}
      />
      <Action.Push
        title="Add Replacement"
        icon={Icon.Switch}
        shortcut={{ modifiers: ["cmd", "shift"], key: "n" }}
        target={<AddReplacementForm initial={search} onChange={setLatest} />}
      />
      <Action.Push
        title="Import CSV File"
        icon={Icon.Upload}
        shortcut={{ modifiers: ["cmd"], key: "i" }}
        target={<ImportForm onChange={setLatest} />}
      />
      <Action
        title="Refresh"
        icon={Icon.ArrowClockwise}
        shortcut={Keyboard.Shortcut.Common.Refresh}
        onAction={refresh}
      />
    </ActionPanel.Section>
  );

  const remove = async (entry: string, label: string) => {
    if (!vocabulary) return;
    const ok = await confirmAlert({
      title: `Remove ${label}?`,
      message: removalMessage(removalPreview(vocabulary, entry)),
      primaryAction: { title: "Remove", style: Alert.ActionStyle.Destructive },
    });
    if (!ok) return;
    try {
      const r = await client.removeVocabulary(entry);
      setLatest(r.vocabulary);
      const count = entryCount(r.removed);
      await showToast({
        style: Toast.Style.Success,
        title: `Removed ${label}`,
        message: count > 1 ? `${count} entries matched it` : undefined,
      });
    } catch (e) {
      await showFailure(e, client);
      refresh();
    }
  };

  const terms = vocabulary?.terms ?? [];
  const replacements = vocabulary?.replacements ?? [];
  return (
    <List
      isLoading={isLoading}
      searchBarPlaceholder="Search your vocabulary"
      // Raycast still filters the rows; the search text pre-fills Add Term and Add Replacement.
      filtering
      onSearchTextChange={setSearch}
    >
      <List.EmptyView
        icon={Icon.Book}
        title={search ? "No matching entries" : "No vocabulary yet"}
        description="Add the names and words Murmur should spell your way (Dashwood, macOS), or what to write for a spoken form (murmur dot app → Murmur.app). Or import them from a CSV file."
        actions={<ActionPanel>{common}</ActionPanel>}
      />
      <List.Section title="Terms" subtitle={terms.length ? String(terms.length) : undefined}>
        {terms.map((t) => (
          <List.Item
            key={`term:${t}`}
            title={t}
            icon={Icon.Text}
            accessories={[{ tag: "Term", tooltip: "Spelled exactly like this" }]}
            actions={
              <ActionPanel>
                <Action.CopyToClipboard title="Copy Term" content={t} />
                <Action
                  title="Remove"
                  icon={Icon.Trash}
                  style={Action.Style.Destructive}
                  shortcut={Keyboard.Shortcut.Common.Remove}
                  onAction={() => remove(t, `“${t}”`)}
                />
                {common}
              </ActionPanel>
            }
          />
        ))}
      </List.Section>
      <List.Section title="Replacements" subtitle={replacements.length ? String(replacements.length) : undefined}>
        {replacements.map((r) => (
          <List.Item
            key={`replacement:${r.spoken}`}
            title={r.spoken}
            subtitle={`→ ${r.written}`}
            icon={Icon.Switch}
            keywords={[r.written]}
            accessories={[{ tag: "Replacement", tooltip: `Said “${r.spoken}”, written “${r.written}”` }]}
            actions={
              <ActionPanel>
                <Action.CopyToClipboard title="Copy Written Form" content={r.written} />
                <Action
                  title="Remove"
                  icon={Icon.Trash}
                  style={Action.Style.Destructive}
                  shortcut={Keyboard.Shortcut.Common.Remove}
                  onAction={() => remove(r.spoken, `“${r.spoken}” → ${r.written}`)}
                />
                {common}
              </ActionPanel>
            }
          />
        ))}
      </List.Section>
    </List>
  );
}

/** Run an add and say how it went; `true` when the daemon took it. */
async function saved(
  run: () => Promise<{ outcome: "added" | "updated" | "unchanged"; vocabulary: Vocabulary }>,
  label: string,
  onChange: OnChange,
): Promise<boolean> {
  const toast = await showToast({ style: Toast.Style.Animated, title: `Adding ${label}` });
  try {
    const r = await run();
    onChange(r.vocabulary);
    toast.style = Toast.Style.Success;
    toast.title = addOutcomeTitle(r.outcome, label);
    return true;
  } catch (e) {
    await toast.hide();
    await showFailure(e, engine());
    return false;
  }
}

function AddTermForm(props: { initial: string; onChange: OnChange }) {
  const { pop } = useNavigation();
  const [errors, setErrors] = useState<TermFormErrors>({});
  return (
    <Form
      navigationTitle="Add Term"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Add Term"
            onSubmit={async (values: { term: string }) => {
              const found = validateTerm(values);
              setErrors(found);
              if (hasErrors(found)) return;
              const term = values.term.trim();
              if (await saved(() => engine().addVocabularyTerm(term), `“${term}”`, props.onChange)) pop();
            }}
          />
        </ActionPanel>
      }
    >
      <Form.TextField
        id="term"
        title="Term"
        placeholder="Dashwood"
        defaultValue={props.initial}
        error={errors.term}
        onChange={() => errors.term && setErrors({})}
      />
      <Form.Description text="A word or phrase Murmur should hear and spell exactly like this: a name, a product, jargon." />
    </Form>
  );
}

function AddReplacementForm(props: { initial: string; onChange: OnChange }) {
  const { pop } = useNavigation();
  const [errors, setErrors] = useState<ReplacementFormErrors>({});
  return (
    <Form
      navigationTitle="Add Replacement"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Add Replacement"
            onSubmit={async (values: { spoken: string; written: string }) => {
              const found = validateReplacement(values);
              setErrors(found);
              if (hasErrors(found)) return;
              const spoken = values.spoken.trim();
              const written = values.written.trim();
              const ok = await saved(
                () => engine().addReplacement(spoken, written),
                `“${spoken}” → ${written}`,
                props.onChange,
              );
              if (ok) pop();
            }}
          />
        </ActionPanel>
      }
    >
      <Form.TextField
        id="spoken"
        title="When I Say"
        placeholder="murmur dot app"
        defaultValue={props.initial}
        error={errors.spoken}
        onChange={() => errors.spoken && setErrors({ ...errors, spoken: undefined })}
      />
      <Form.TextField
        id="written"
        title="Write"
        placeholder="Murmur.app"
        error={errors.written}
        onChange={() => errors.written && setErrors({ ...errors, written: undefined })}
      />
      <Form.Description text="What you say, and what to write instead (matched by its words, ignoring case and punctuation)." />
    </Form>
  );
}

const fileSize = (f: string) => {
  try {
    const st = fs.statSync(f);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
};

function ImportForm(props: { onChange: OnChange }) {
  const { pop } = useNavigation();
  const [errors, setErrors] = useState<ImportFormErrors>({});
  return (
    <Form
      navigationTitle="Import Vocabulary"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Import"
            onSubmit={async (values: { file: string[] }) => {
              const found = validateImport(values, fileSize);
              setErrors(found);
              if (hasErrors(found)) return;
              const file = values.file[0];
              const name = path.basename(file);
              const toast = await showToast({ style: Toast.Style.Animated, title: `Importing ${name}` });
              try {
                const r = await engine().importVocabulary(fs.readFileSync(file, "utf8"));
                props.onChange(r.vocabulary);
                toast.style = Toast.Style.Success;
                toast.title = `Imported ${name}`;
                toast.message = importSummaryText(r.imported);
                pop();
              } catch (e) {
                await toast.hide();
                await showFailure(e, engine());
              }
            }}
          />
        </ActionPanel>
      }
    >
      <Form.FilePicker
        id="file"
        title="CSV File"
        allowMultipleSelection={false}
        error={errors.file}
        onChange={(files) => setErrors(files.length ? validateImport({ file: files }, fileSize) : {})}
      />
      <Form.Description text="One entry per row: a term (Dashwood), or what is said and what to write (murmur dot app,Murmur.app). A header row, quoted fields and # comments are fine. All or nothing: a bad row names its line and nothing is imported." />
    </Form>
  );
}
