"""LangChain integration: `QARetriever`, our hybrid retrieval as a LangChain retriever, and
`chain(settings)`, a Runnable from a question to a checked, cited Answer.

Both reuse one Engine per distinct settings in the process (`answering.engine.engine_for`), so the
embedding model loads once however many retrievers and chains are built, and only when the first
question arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import ConfigDict, Field, PrivateAttr

from .access.accounts import Users, load_users
from .answering.engine import Engine, engine_for
from .config import Settings, load_settings
from .errors import NoSuchCollection
from .store import collections
from .types import Answer, Message, Passage


def passage_document(passage: Passage) -> Document:
    """A retrieved passage as a LangChain Document (metadata: source, title, page, location,
    chunk_id, score, date, start, end)."""
    return Document(
        id=passage.chunk_id,
        page_content=passage.text,
        metadata={
            "source": passage.source,
            "title": passage.title,
            "page": passage.page,
            "location": passage.location,
            "chunk_id": passage.chunk_id,
            "score": passage.score,
            "date": passage.date,
            "start": passage.start,
            "end": passage.end,
        },
    )


class QARetriever(BaseRetriever):
    """Hybrid retrieval (dense + BM25, fused, near-duplicates removed) over an index built by
    `ingest.py`, as a LangChain retriever.

    `QARetriever(k=2, index_dir="vectorstore")`; `settings` (a qa.Settings) sets every other knob,
    and `index_dir`, when given too, overrides its index location. Without `settings` they come
    from qa.toml and QA_* env vars like everywhere else. `invoke(query, k=..., sources=[...])`
    overrides k and restricts the search to some files for one call.

    `user`: search on behalf of this QA_AUTH user, who must be granted the settings' collection
    (else every call raises NoSuchCollection, as for a collection that does not exist).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int | None = Field(default=None, ge=1, le=50, description="Documents returned (default: settings.top_k).")
    index_dir: Path | None = Field(default=None, description="Index folder (default: settings.index_dir).")
    settings: Settings | None = Field(default=None, description="qa Settings (default: qa.toml and QA_* env vars).")
    sources: list[str] | None = Field(default=None, description="Only passages of these files (as ingested).")
    user: str | None = Field(default=None, description="Search as this QA_AUTH user (default: no restriction).")

    _engine: Engine | None = PrivateAttr(default=None)
    _users: Users | None = PrivateAttr(default=None)  # QA_AUTH, read once (with `user`)

    def resolved_settings(self) -> Settings:
        """The settings this retriever searches with."""
        if self.settings is None:
            return load_settings(index_dir=self.index_dir)
        if self.index_dir is None:
            return self.settings
        return load_settings(**{**self.settings.revealed(), "index_dir": Path(self.index_dir)})

    @property
    def engine(self) -> Engine:
        """Opened on first use and shared with every retriever and chain of the same settings."""
        if self._engine is None:
            self._engine = engine_for(self.resolved_settings())
        return self._engine

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[Document]:
        settings = self.resolved_settings()
        if self.user is not None and self._users is None:
            self._users = users_of(settings)
        require_access(settings, self.user, self._users)
        retrieval = self.engine.retriever.search(query, k=k or self.k, sources=sources or self.sources)
        return [passage_document(passage) for passage in retrieval.passages]


def users_of(settings: Settings) -> Users | None:
    """The QA_AUTH users of `settings` (None: login is off, nobody is restricted)."""
    return load_users(settings.auth.get_secret_value() if settings.auth else None, settings.admins)


def require_access(settings: Settings, user: str | None, users: Users | None) -> None:
    """Raise NoSuchCollection unless `user` (None: no restriction) may see settings' collection."""
    if user is None:
        return
    name = settings.collection
    if users is not None and not users.may_see(user, name, collections.owner(settings, name)):
        raise NoSuchCollection(f"no collection {name!r}")


def _message_dict(message: Any) -> Message | Any:
    """LangChain messages as {"role", "content"}; anything else is passed on as it is."""
    if isinstance(message, BaseMessage):
        role = {"human": "user", "ai": "assistant"}.get(message.type, message.type)
        return {"role": role, "content": message.text}
    return message


def _question_and_history(inputs: str | Mapping[str, Any]) -> tuple[str, list[Any]]:
    if isinstance(inputs, str):
        return inputs, []
    if isinstance(inputs, Mapping) and isinstance(inputs.get("question"), str):
        return inputs["question"], [_message_dict(turn) for turn in inputs.get("history") or []]
    raise TypeError('qa.chain takes a question (str) or {"question": str, "history": [messages]}')


def chain(
    settings: Settings | None = None, *, engine: Engine | None = None, user: str | None = None
) -> Runnable[Any, Answer]:
    """A Runnable: a question (str) or {"question": str, "history": [...]} in, a checked and cited
    qa.Answer out. History turns are {"role", "content"} dicts or LangChain messages.

    `settings` defaults to qa.toml and QA_* env vars; `engine` uses an Engine you already built;
    `user` answers as that QA_AUTH user (see QARetriever).
    """

    users: list[Users | None] = []  # QA_AUTH, read on the first call (with `user`)

    def run(inputs: str | Mapping[str, Any]) -> Answer:
        question, history = _question_and_history(inputs)
        chosen = engine or engine_for(settings or load_settings())
        if user is not None and not users:
            users.append(users_of(chosen.settings))
        require_access(chosen.settings, user, users[0] if users else None)
        return chosen.answer(question, history)

    return RunnableLambda(run, name="qa_chain")
