"""The ask pipeline: retrieve, fit the passages to the context budget, ask the support gate,
then read a phrase out of the passages (base models) or generate a grounded answer.

``Engine.ask`` delegates here; the models are reached through callables so that they still
load lazily, on the first question.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from config import Settings
from retrieval.answer import evidence, grounding, phrase_choice, prompts
from retrieval.answer.neighbours import Widened, as_found
from retrieval.answer.reader import Prior, Reading
from retrieval.llm import LLM, Completion, ConstrainedLLM, TokenCallback
from retrieval.questions import check_question
from retrieval.search.gate import SupportGate
from retrieval.types import Answer, Passage, Turn


class Search(Protocol):
    def __call__(self, query: str, *, collection: str | None = None,
                 article: str | None = None, k: int | None = None) -> list[Passage]: ...


class Reader(Protocol):
    def read(self, question: str, texts: Sequence[str], top_n: int = 3,
             prior: Prior | None = None) -> Reading: ...


# The found passages widened to what the reader reads (``neighbours.widen``), in a collection.
Widen = Callable[[Sequence[Passage], str | None], Widened]


class Answerer:
    """Answers one question at a time from what ``search`` finds (thread-safe: no state of
    its own beyond the settings and the shared models)."""

    def __init__(self, settings: Settings, *, search: Search, llm: Callable[[], LLM],
                 gate: Callable[[], SupportGate],
                 reader: Callable[[], Reader | None] = lambda: None,
                 widen: Widen = lambda found, collection: as_found(found)):
        self.settings = settings
        self.search = search
        self.widen = widen
        # Callables, so that each model still loads on first use.
        self._get_llm, self._get_gate, self._get_reader = llm, gate, reader

    @property
    def llm(self) -> LLM:
        return self._get_llm()

    @property
    def gate(self) -> SupportGate:
        return self._get_gate()

    def _check_question(self, question: str) -> str:
        return check_question(question, self.settings.limits.max_question_chars)

    def ask(self, question: str, *, collection: str | None = None, article: str | None = None,
            history: Sequence[Turn] = (), on_token: TokenCallback | None = None) -> Answer:
        started = time.perf_counter()
        question = self._check_question(question)
        history = list(history)[-self.settings.answer.history_turns:] if \
            self.settings.answer.history_turns else []
        # Follow-ups ("what did he say next?") retrieve with the previous question as context.
        query = " ".join([*(t.question for t in history[-1:]), question])
        reader = self._get_reader()
        depth = max(self.settings.search.top_k, self.settings.reader.passages) if reader \
            else None
        found = self.search(query[-self.settings.limits.max_question_chars:],
                            collection=collection, article=article, k=depth)
        timings = {"retrieval_s": time.perf_counter() - started}
        passages, context_tokens = self._fit_context(found[:self.settings.search.top_k])
        if not self.gate.supported(query, passages):
            timings["total_s"] = time.perf_counter() - started
            return Answer(grounding.ABSTAIN_TEXT, True, [], timings, passages, context_tokens)
        if reader is not None:
            return self._ask_reader(reader, question, self.widen(found, collection), history,
                                    on_token, started, timings)
        if self._extractive():
            return self._ask_extractive(question, passages, history, on_token, started, timings,
                                        context_tokens)
        # With the extraction fallback, a free answer that fails the check is replaced, so it
        # is held back rather than streamed: the reader never sees a rejected answer.
        fallback = self.settings.answer.extract_fallback and self._can_extract()
        completion = self._generate(question, passages, history,
                                    None if fallback else on_token)
        self._time_completion(timings, completion)
        text = grounding.clean_answer(completion.text) if self._completion_style() else \
            completion.text.strip()
        abstained = grounding.is_refusal(text) or (
            self.settings.answer.require_grounded_answer
            and grounding.grounding(text, passages) < self.settings.answer.min_grounding)
        if fallback and (abstained or grounding.echoes_the_question(text, question)):
            # The gate said the passages cover the question but the free answer was not in
            # them, or only echoed the question: answer with a phrase copied from them
            # instead.
            return self._ask_extractive(question, passages, history, on_token, started,
                                        timings, context_tokens)
        if not abstained:
            text = grounding.verbatim_form(text, passages)
        if fallback and not abstained and on_token is not None:
            on_token(text)
        citations = [] if abstained else grounding.cite(
            text, question, passages, self.settings.answer.quote_chars)
        timings["total_s"] = time.perf_counter() - started
        return Answer(grounding.ABSTAIN_TEXT if abstained else text, abstained, citations,
                      timings, passages, context_tokens)

    @staticmethod
    def _time_completion(timings: dict[str, float], completion: Completion) -> None:
        timings["first_token_s"] = timings["retrieval_s"] + (completion.first_token_s or
                                                             completion.seconds)
        timings["generation_s"] = completion.seconds
        timings["tokens"] = completion.tokens

    def _extractive(self) -> bool:
        """Base models answer with a phrase copied from the passages (``phrase_choice``); chat
        models, and servers that cannot constrain decoding, keep the chat prompt."""
        return self.settings.answer.reader == "extract" and self._can_extract()

    def _can_extract(self) -> bool:
        return self._completion_style() and isinstance(self.llm, ConstrainedLLM)

    def _ask_extractive(self, question: str, passages: list[Passage], history: list[Turn],
                        on_token: TokenCallback | None, started: float,
                        timings: dict[str, float], context_tokens: int) -> Answer:
        cfg = self.settings.answer
        plan = phrase_choice.plan_reading(question, passages, self.gate.weight,
                                          sentences=cfg.reader_sentences,
                                          max_words=cfg.max_answer_words,
                                          type_match=cfg.type_match)
        prompt = prompts.completion_prompt_from(
            question, phrase_choice.context_text(plan.sentences), history)
        llm = self.llm
        assert isinstance(llm, ConstrainedLLM)
        completion = llm.complete_within(prompt, plan.phrases,
                                         max_tokens=self.settings.llm.max_tokens,
                                         on_token=on_token)
        self._time_completion(timings, completion)
        text = completion.text.strip()
        found = phrase_choice.locate(text, plan.sentences)
        abstained = not plan.phrases or grounding.is_refusal(text) or \
            grounding.grounding(text, passages) == 0.0
        citations = [] if abstained else (
            [grounding.cite_span(found[0], found[1], len(text), cfg.quote_chars)] if found
            else grounding.cite(text, question, passages, cfg.quote_chars))
        timings["total_s"] = time.perf_counter() - started
        return Answer(grounding.ABSTAIN_TEXT if abstained else text, abstained, citations,
                      timings, passages, context_tokens)

    def _completion_style(self) -> bool:
        return self.llm.prompt_style() == "completion"

    def _fit_context(self, passages: list[Passage]) -> tuple[list[Passage], int]:
        """The passages that fit the context budget, and their tokens (each counted once:
        with a remote model every count is a request)."""
        budget = self.settings.answer.max_context_tokens
        kept: list[Passage] = []
        used = 0
        for passage in passages:
            cost = self.llm.count_tokens(passage.text)
            if kept and used + cost > budget:
                break
            kept.append(passage)
            used += cost
        return kept, used

    def _generate(self, question: str, passages: list[Passage], history: list[Turn],
                  on_token: TokenCallback | None) -> Completion:
        max_tokens = self.settings.llm.max_tokens
        if self._completion_style():
            cfg = self.settings.answer
            if cfg.context_sentences > 0:
                chosen = phrase_choice.choose_sentences(question, passages, self.gate.weight,
                                                        sentences=cfg.context_sentences,
                                                        type_match=cfg.type_match)
                prompt = prompts.completion_prompt_from(
                    question, phrase_choice.context_text(chosen), history)
            else:
                prompt = prompts.completion_prompt(question, passages, history)
            return self.llm.complete(prompt, max_tokens=max_tokens, stop=["\n"],
                                     on_token=on_token)
        messages = prompts.chat_messages(question, passages, history)
        return self.llm.chat(messages, max_tokens=self.settings.llm.chat_max_tokens,
                             on_token=on_token)


    # -- the trained reader -----------------------------------------------------------------
    def _ask_reader(self, reader: Reader, question: str, widened: Widened,
                    history: list[Turn], on_token: TokenCallback | None, started: float,
                    timings: dict[str, float]) -> Answer:
        """The reader decides whether the passages (widened to their neighbouring paragraphs)
        answer the question and where; the LLM chooses among its spans (base models,
        ``answer_by = "llm"``) or writes a sentence from the best span's sentence (chat
        models)."""
        cfg = self.settings.reader
        began = time.perf_counter()
        read, found = widened.passages, widened.found
        reading = reader.read(question, [p.text for p in read], top_n=cfg.top_spans,
                              prior=widened.prior(cfg.passage_weight))
        timings["reader_s"] = time.perf_counter() - began
        if reading.margin < cfg.min_margin or (
                reading.answerable is not None and reading.answerable < cfg.min_answerable):
            timings["total_s"] = time.perf_counter() - started
            return Answer(grounding.ABSTAIN_TEXT, True, [], timings, found,
                          reader_margin=reading.margin, answerable=reading.answerable)
        span = reading.spans[0]
        chosen_by_llm = self._completion_style() and cfg.answer_by == "llm" and \
            len(reading.spans) > 1 and self._can_extract()
        if chosen_by_llm:  # the model streams its choice itself
            span = self._llm_choice(question, reading, widened, history, on_token, timings)
        source, span = widened.cited(span)  # the span in its own paragraph
        text = span.text
        if not self._completion_style():
            # Held back, not streamed: a sentence that strays from the evidence is replaced
            # by the span, and the member never sees the rejected one.
            text = self._chat_from_evidence(question, source, span, history, timings)
            if on_token is not None:
                on_token(text)
        elif not chosen_by_llm:
            # The reader's span is the whole answer: its first token is the answer itself.
            timings["first_token_s"] = time.perf_counter() - started
            if on_token is not None:
                on_token(text)
        citation = grounding.cite_span(source, span.start, span.end - span.start,
                                       self.settings.answer.quote_chars)
        timings["total_s"] = time.perf_counter() - started
        return Answer(text, False, [citation], timings, found, reader_margin=reading.margin,
                      answerable=reading.answerable)

    def _llm_choice(self, question: str, reading: Reading, widened: Widened,
                    history: list[Turn], on_token: TokenCallback | None,
                    timings: dict[str, float]) -> evidence.Span:
        llm = self.llm
        assert isinstance(llm, ConstrainedLLM)
        # Each candidate's sentence from its own paragraph: a widened passage's sentences may
        # run across a paragraph break (a headline has no full stop).
        cited = [widened.cited(span) for span in reading.spans]
        context = evidence.choice_context(
            [replace(span, passage=i) for i, (_, span) in enumerate(cited)],
            [source for source, _ in cited])
        prompt = prompts.completion_prompt_from(question, context, history)
        completion = llm.complete_within(prompt, [s.text for s in reading.spans],
                                         max_tokens=self.settings.llm.max_tokens,
                                         on_token=on_token)
        self._time_completion(timings, completion)
        return evidence.chosen_span(completion.text, reading.spans)

    def _chat_from_evidence(self, question: str, passage: Passage, span: evidence.Span,
                            history: list[Turn], timings: dict[str, float]) -> str:
        """A chat model's sentence from the sentence holding the reader's span; the span
        itself when the sentence strays from that evidence."""
        source = evidence.evidence_passage(passage, span)
        completion = self.llm.chat(prompts.chat_messages(question, [source], history),
                                   max_tokens=self.settings.llm.chat_max_tokens)
        self._time_completion(timings, completion)
        text = completion.text.strip()
        if not text or grounding.is_refusal(text) or \
                grounding.grounding(text, [source]) < self.settings.answer.min_grounding:
            return span.text
        return text
