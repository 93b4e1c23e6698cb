import { Action, ActionPanel, Detail, Form, useNavigation } from "@raycast/api";
import { useEffect, useState } from "react";
import type { ChatResult } from "./lib/engine";
import { chooseModelFor, engine, prefs, showFailure, temperature } from "./lib/raycast";

/** Ask a local model anything: a form for the question, then the answer as it is written
 * (the daemon's OpenAI route, `POST /v1/chat/completions`). */
export default function Command() {
  const { push } = useNavigation();
  const [error, setError] = useState<string>();
  return (
    <Form
      navigationTitle="Ask Murmur"
      actions={
        <ActionPanel>
          <Action.SubmitForm
            title="Ask"
            onSubmit={(values: { question: string }) => {
              const question = values.question.trim();
              if (!question) return setError("Type a question");
              push(<AnswerView question={question} />);
            }}
          />
        </ActionPanel>
      }
    >
      <Form.TextArea
        id="question"
        title="Question"
        placeholder="Ask a local model"
        error={error}
        onChange={() => setError(undefined)}
      />
    </Form>
  );
}

function AnswerView(props: { question: string }) {
  const [text, setText] = useState("");
  const [result, setResult] = useState<ChatResult>();
  const [running, setRunning] = useState(true);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    setText("");
    setResult(undefined);
    setRunning(true);
    let pieces = "";
    (async () => {
      try {
        const choice = await chooseModelFor("text");
        const done = await engine().chat(
          [{ role: "user", content: props.question }],
          { model: choice.id, temperature: temperature(prefs()), maxTokens: 512, signal: abort.signal },
          (piece) => {
            pieces += piece;
            setText(pieces);
          },
        );
        setResult(done);
        setText(done.text);
      } catch (e) {
        if (!abort.signal.aborted) await showFailure(e, engine(), { retry: () => setAttempt((a) => a + 1) });
      } finally {
        setRunning(false);
      }
    })();
    return () => abort.abort();
  }, [props.question, attempt]);

  const cut = result?.finishReason === "length" ? "\n\n_Cut at the token limit._" : "";
  return (
    <Detail
      isLoading={running}
      navigationTitle="Ask Murmur"
      markdown={`**${props.question}**\n\n${text || (running ? "_Thinking…_" : "")}${cut}`}
      metadata={
        result ? (
          <Detail.Metadata>
            <Detail.Metadata.Label title="Model" text={result.model} />
            <Detail.Metadata.Label
              title="Tokens"
              text={`${result.usage.completion_tokens} (prompt ${result.usage.prompt_tokens})`}
            />
          </Detail.Metadata>
        ) : undefined
      }
      actions={
        text ? (
          <ActionPanel>
            <Action.Paste title="Paste" content={text} />
            <Action.CopyToClipboard title="Copy" content={text} />
            <Action title="Ask Again" onAction={() => setAttempt((a) => a + 1)} />
          </ActionPanel>
        ) : undefined
      }
    />
  );
}
