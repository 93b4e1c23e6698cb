"""The official `openai` Python package against a real `murmur serve` (started by
scripts/test-openai.sh, which sets OPENAI_BASE_URL and OPENAI_API_KEY to the daemon's
TCP address and bearer token): chat, streaming chat, stop strings, transcription in
every format, translation, streaming transcription, the models list, and the errors
OpenAI's client raises as its own exception types. Real models: SmolLM2-135M as
`smollm2`, Whisper base as `whisper-test` (the default speech model, so `whisper-1`
names it), real speech (JFK).

    python -m unittest tests/openai/test_python_client.py
"""
import json
import os
import re
import unittest
from pathlib import Path

import openai

FIXTURES = Path(os.environ["MURMUR_FIXTURES"])
JFK = FIXTURES / "audio" / "jfk.wav"
CHAT = "smollm2"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def words(text):
    return re.findall(r"[a-z']+", text.lower())


def says_jfk(text):
    w = " ".join(words(text))
    return "ask not what your country can do for you" in w


class Client(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = openai.OpenAI(max_retries=0, timeout=300)

    def test_chat_answers_with_usage_and_the_same_text_streamed(self):
        whole = self.client.chat.completions.create(
            model=CHAT, messages=QUESTION, temperature=0, max_tokens=24, seed=7
        )
        self.assertEqual(whole.object, "chat.completion")
        self.assertEqual(whole.model, CHAT)
        choice = whole.choices[0]
        self.assertEqual(choice.message.role, "assistant")
        self.assertIn(choice.finish_reason, ("stop", "length"))
        self.assertIn("paris", words(choice.message.content))
        self.assertGreater(whole.usage.prompt_tokens, 5)
        self.assertGreater(whole.usage.completion_tokens, 0)
        self.assertEqual(
            whole.usage.total_tokens,
            whole.usage.prompt_tokens + whole.usage.completion_tokens,
        )
        stream = self.client.chat.completions.create(
            model=CHAT,
            messages=QUESTION,
            temperature=0,
            max_tokens=24,
            seed=7,
            stream=True,
            stream_options={"include_usage": True},
        )
        deltas, finish, usage = [], None, None
        for chunk in stream:
            self.assertEqual(chunk.object, "chat.completion.chunk")
            if chunk.usage is not None:
                usage = chunk.usage
            for c in chunk.choices:
                if c.delta.content:
                    deltas.append(c.delta.content)
                finish = c.finish_reason or finish
        self.assertGreater(len(deltas), 1, "the answer arrives in pieces")
        self.assertEqual("".join(deltas), choice.message.content)
        self.assertEqual(finish, choice.finish_reason)
        self.assertEqual(usage.completion_tokens, whole.usage.completion_tokens)

    def test_a_stop_string_ends_the_answer_before_it(self):
        free = self.client.chat.completions.create(
            model=CHAT, messages=QUESTION, temperature=0, max_tokens=24
        ).choices[0]
        text = free.message.content
        # Stop at the answer's second word: the answer is cut just before it.
        second = text.split()[1]
        cut = self.client.chat.completions.create(
            model=CHAT, messages=QUESTION, temperature=0, max_tokens=24, stop=[second]
        ).choices[0]
        self.assertEqual(cut.finish_reason, "stop")
        self.assertEqual(cut.message.content, text[: text.index(second)])

    def test_max_tokens_ends_with_length(self):
        r = self.client.chat.completions.create(
            model=CHAT,
            messages=[{"role": "user", "content": "Write a long story about a dragon."}],
            temperature=0,
            max_completion_tokens=5,
        )
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertEqual(r.usage.completion_tokens, 5)

    def test_errors_raise_openais_exceptions(self):
        with self.assertRaises(openai.NotFoundError) as e:
            self.client.chat.completions.create(model="no-such-model", messages=QUESTION)
        self.assertEqual(e.exception.code, "model_not_found")
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.chat.completions.create(model=CHAT, messages=QUESTION, n=3)
        self.assertEqual(e.exception.param, "n")
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.chat.completions.create(
                model=CHAT, messages=QUESTION, extra_body={"frobnicate": True}
            )
        self.assertEqual(e.exception.param, "frobnicate")
        with self.assertRaises(openai.BadRequestError):
            self.client.chat.completions.create(model=CHAT, messages=[])
        wrong_key = openai.OpenAI(api_key="not-the-token", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            wrong_key.models.list()
        with self.assertRaises(openai.BadRequestError) as e:
            with open(JFK, "rb") as f:
                self.client.audio.transcriptions.create(
                    model="whisper-1", file=f, response_format="xml"
                )
        self.assertEqual(e.exception.param, "response_format")

    def test_models_list_and_one_model(self):
        listed = self.client.models.list()
        ids = [m.id for m in listed.data]
        self.assertIn(CHAT, ids)
        self.assertIn("whisper-test", ids)
        one = self.client.models.retrieve(CHAT)
        self.assertEqual((one.id, one.object, one.owned_by), (CHAT, "model", "murmur"))
        with self.assertRaises(openai.NotFoundError):
            self.client.models.retrieve("no-such-model")

    def transcribe(self, **kw):
        with open(JFK, "rb") as f:
            return self.client.audio.transcriptions.create(model="whisper-1", file=f, **kw)

    def test_transcription_in_every_format(self):
        self.assertTrue(says_jfk(self.transcribe().text))
        text = self.transcribe(response_format="text")
        self.assertIsInstance(text, str)
        self.assertTrue(says_jfk(text))
        srt = self.transcribe(response_format="srt")
        self.assertRegex(srt, r"^1\n00:00:0\d,\d{3} --> 00:00:\d\d,\d{3}\n")
        self.assertTrue(says_jfk(srt))
        vtt = self.transcribe(response_format="vtt")
        self.assertTrue(vtt.startswith("WEBVTT"))
        self.assertRegex(vtt, r"\n00:00:0\d\.\d{3} --> 00:00:\d\d\.\d{3}\n")
        verbose = self.transcribe(
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            language="en",
        )
        self.assertEqual(verbose.language, "english")
        self.assertAlmostEqual(verbose.duration, 11.0, delta=0.1)
        self.assertTrue(says_jfk(verbose.text))
        self.assertGreater(len(verbose.segments), 0)
        self.assertTrue(all(0 <= s.start < s.end <= 11.1 for s in verbose.segments))
        spoken = [w.word for w in verbose.words]
        self.assertEqual(words(" ".join(spoken)), words(verbose.text))
        starts = [w.start for w in verbose.words]
        self.assertEqual(starts, sorted(starts), "words in time order")
        self.assertTrue(all(w.start <= w.end for w in verbose.words))

    def test_streamed_transcription_and_translation(self):
        with open(JFK, "rb") as f:
            events = list(
                self.client.audio.transcriptions.create(model="whisper-1", file=f, stream=True)
            )
        kinds = [e.type for e in events]
        self.assertEqual(kinds[-1], "transcript.text.done")
        self.assertIn("transcript.text.delta", kinds)
        deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
        self.assertEqual(words(deltas), words(events[-1].text))
        with open(JFK, "rb") as f:
            english = self.client.audio.translations.create(model="whisper-test", file=f)
        self.assertTrue(says_jfk(english.text))


if __name__ == "__main__":
    unittest.main()
