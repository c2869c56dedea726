"""The Gradio app: chat with streaming cited answers and a sources panel; documents tab to
upload, remove and rebuild (admins only when login is on); `/ask` API for gradio_client.

Answers run in Gradio's queue (settings.answer_concurrency at once); ingest and rebuild run one at
a time in a child process (jobs.py) under their own concurrency group, so questions are answered
from the live index while they run. The handlers here only check permissions and render: the
documents folder and its index are `documents.Documents`'.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import gradio as gr

from ..access.accounts import Users, load_users
from ..answering.engine import Engine
from ..answering.engines import EnginePool
from ..config import Settings
from ..errors import QAError
from ..ingestion.watch import Sync, watch
from ..store import collections
from ..store.overview import Overview
from ..types import Answer, Progress
from .chats import Chats
from .conversations import Conversations
from .documents import Documents
from .render import answer_markdown, escape_markdown, sources_html
from .turn import Failed, answer_in_thread

log = logging.getLogger(__name__)
STATUS_EVERY_S = 3.0  # with --watch, how often an open page re-reads the status line


def status_line(view: Overview, backend: str, synced: str | None = None) -> str:
    """The line above the chat: what is indexed, and with --watch when the folder last synced."""
    if view.state is None:
        return "No index yet." + (f" · {synced}" if synced else "")
    updated = view.state.updated
    try:
        updated = datetime.fromisoformat(updated).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        pass
    return (
        f"**{len(view.documents)}** document{'' if len(view.documents) == 1 else 's'} · **{view.chunks}** chunks · "
        f"model `{view.state.embedding_model}` · "
        f"backend `{backend}` · updated {updated}" + (f" · {synced}" if synced else "")
    )


def documents_html(view: Overview) -> str:
    if not view.documents:
        return "<p>No documents indexed.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(doc.source)}</td><td>{doc.chunks}</td><td>{doc.size / 1000:.1f} kB</td></tr>"
        for doc in view.documents
    )
    return f"<table><thead><tr><th>document</th><th>chunks</th><th>size</th></tr></thead><tbody>{rows}</tbody></table>"


class App:
    """The handlers, holding the engine, the ingest runner and the users."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.users: Users | None = load_users(
            settings.auth.get_secret_value() if settings.auth else None, settings.admins
        )
        #: one engine per collection (the one the app was started with open now), one model; each
        #: call names its user, who gets only the collections QA_AUTH lets them see
        self.engines = EnginePool(
            settings, embeddings=engine.embeddings if engine is not None else None, users=self.users
        )
        self.engines.adopt(engine or Engine(settings))
        self._documents: dict[str, Documents] = {settings.collection: Documents(settings)}
        self.chats = Chats(Conversations(settings.conversations_path), settings.collection, self.may_see)
        #: with --watch: "watching the documents folder", then when it last synced and what changed
        self.synced: str | None = None
        self._stop_watching = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def engine(self) -> Engine:
        """The engine of the collection the app was started with."""
        return self.engines.get()

    @property
    def documents(self) -> Documents:
        """The documents of the collection the app was started with."""
        return self._documents[self.settings.collection]

    def user_of(self, request: gr.Request | None) -> str | None:
        """The logged-in user ("": nobody, who sees nothing; None without login: the machine's own
        user, who sees everything)."""
        if self.users is None:
            return None
        name = getattr(request, "username", None) if request is not None else None
        return str(name) if name else ""

    def may_see(self, request: gr.Request | None, collection: str) -> bool:
        try:
            self.engines.check(collection, self.user_of(request))
        except QAError:
            return False
        return True

    def documents_of(self, collection: str | None, request: gr.Request | None) -> Documents:
        """The documents folder and index of a collection (the picker's choice) the user may see."""
        try:
            name = self.engines.check(collection or None, self.user_of(request))
            if name not in self._documents:
                self._documents[name] = Documents(self.engines.settings_of(name))
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        return self._documents[name]

    def engine_of(self, collection: str | None, request: gr.Request | None) -> Engine:
        try:
            return self.engines.get(collection or None, self.user_of(request))
        except QAError as exc:
            raise gr.Error(str(exc)) from exc

    # --- the folder kept in sync (--watch) ---------------------------------------------------
    def start_watching(self) -> None:
        """Re-ingest the documents folder (in the ingest child) after each burst of changes."""
        self.synced = "watching the documents folder"
        self._watcher = threading.Thread(
            target=watch,
            args=([self.settings.docs_dir], self.settings.index_dir, self.documents.sync, self._on_sync),
            kwargs={"stop": self._stop_watching},
            name="qa-watch",
            daemon=True,
        )
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)

    def _on_sync(self, sync: Sync) -> None:
        at = sync.at.astimezone().strftime("%H:%M:%S")
        if sync.error is not None or sync.report is None:
            self.synced = f"sync failed at {at}: {escape_markdown(str(sync.error))}"
            return
        report = sync.report
        self.synced = (
            f"synced {at}: {report.files_added} added, {report.files_updated} updated, "
            f"{report.files_deleted} removed, {report.files_skipped} skipped"
        )
        log.info("%s", self.synced)

    def status(self, collection: str | None = None, request: gr.Request | None = None) -> Any:
        """The status line of the chosen collection (with --watch, the watched one's last sync)."""
        if self.users is not None and not self.may_see(request, collection or self.settings.collection):
            return gr.skip()
        name = collection or self.settings.collection
        synced = self.synced if name == self.settings.collection else None
        return status_line(self.documents_of(name, request).overview(), self.settings.backend, synced)

    # --- permissions -------------------------------------------------------------------------
    def is_admin(self, request: gr.Request | None) -> bool:
        if self.users is None:
            return True  # no login: whoever reaches the app (127.0.0.1 by default) manages it
        username = getattr(request, "username", None) if request is not None else None
        return self.users.is_admin(username)

    def require_admin(self, request: gr.Request | None) -> None:
        if not self.is_admin(request):
            raise gr.Error("Only administrators can change the documents.")

    # --- chat --------------------------------------------------------------------------------
    def respond(
        self,
        message: str,
        chat: list[dict[str, Any]],
        turns: list[dict[str, str]],
        collection: str | None,
        conversation: str | None,
        request: gr.Request,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream the answer (from the chosen collection, never another) into the chat, then show
        the checked answer and its sources, and keep it in the conversation it was asked in.

        The turn is saved before the last update, by the answer's own thread (`turn`): leaving
        the conversation while it is written (New conversation, another conversation or
        collection) cancels this event at once, and the turn still lands in the conversation it
        was asked in, never in the one opened next."""
        question = (message or "").strip()
        if not question:
            yield (gr.skip(),) * 6
            return
        engine = self.engine_of(collection, request)
        answer_no = len(turns) // 2 + 1
        chat = [*chat, {"role": "user", "content": escape_markdown(question)}, {"role": "assistant", "content": "…"}]
        yield chat, "", gr.skip(), turns, gr.skip(), gr.skip()
        streamed = ""
        final: Answer | None = None

        def keep(answer: Answer) -> tuple[Any, ...]:
            return self.chats.keep(question, answer, conversation, collection, request)

        for event in answer_in_thread(engine, question, turns, keep):
            if event is None:
                yield (gr.skip(),) * 6  # a chance for Gradio to cancel this answer
            elif isinstance(event, Answer):
                final = event
            elif isinstance(event, str):
                streamed += event
                chat[-1] = {"role": "assistant", "content": escape_markdown(streamed)}
                yield chat, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            elif isinstance(event, Failed):
                if isinstance(event.error, QAError):
                    raise gr.Error(str(event.error)) from event.error
                raise event.error
            else:
                assert final is not None
                key, listed = event.result
                chat[-1] = {"role": "assistant", "content": answer_markdown(final, answer_no)}
                turns = [*turns, {"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
                yield chat, gr.skip(), sources_html(final, answer_no), turns, key, listed

    def respond_example(
        self,
        chat: list[dict[str, Any]],
        turns: list[dict[str, str]],
        collection: str | None,
        conversation: str | None,
        event: gr.SelectData,
        request: gr.Request,
    ) -> Iterator[tuple[Any, ...]]:
        yield from self.respond(str(event.value.get("text", "")), chat, turns, collection, conversation, request)

    def ask(
        self,
        question: str,
        history: list[dict[str, Any]] | None = None,
        collection: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]  # Gradio fills it in
    ) -> dict[str, Any]:
        """The API: the answer as `python -m qa ask --json` prints it (`collection`: default the app's)."""
        engine = self.engine_of(collection, request)
        try:
            return engine.answer(question, history or []).to_json()
        except QAError as exc:
            raise gr.Error(str(exc)) from exc

    # --- documents ---------------------------------------------------------------------------
    def _run_job(self, progress: gr.Progress, rebuild: bool, documents: Documents) -> str:
        def report(step: Progress) -> None:
            if step.files_total:
                done = f"{step.files_done}/{step.files_total} files, {step.chunks_added} chunks"
                progress(step.files_done / step.files_total, desc=done)

        progress(0, desc="starting")
        try:
            summary = documents.update(rebuild=rebuild, on_progress=report)
        except QAError as exc:
            log.warning("ingest failed: %s", exc)
            raise gr.Error(str(exc)) from exc
        return escape_markdown(summary)

    def upload(
        self,
        files: list[Any] | None,
        collection: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[str, Any]:
        self.require_admin(request)
        if not files:
            raise gr.Error("Choose one or more files to upload first.")
        uploads = []
        for item in files:
            path = Path(getattr(item, "name", None) or str(item))
            original = getattr(item, "orig_name", None) or path.name
            uploads.append((original, path))
        documents = self.documents_of(collection, request)
        result = documents.save(uploads)
        note = escape_markdown(result.summary())
        if not result.saved:
            return note, None
        return note + "\n\n" + self._run_job(progress, rebuild=False, documents=documents), None

    def rebuild(self, collection: str | None, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:
        self.require_admin(request)
        return self._run_job(progress, rebuild=True, documents=self.documents_of(collection, request))

    def remove(
        self, source: str | None, collection: str | None, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> str:
        """Move the document aside (documents.Documents.remove) and update the index."""
        self.require_admin(request)
        if not source:
            raise gr.Error("Choose a document to remove.")
        documents = self.documents_of(collection, request)
        try:
            trash = documents.remove(source)
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        removed = f"Removed {escape_markdown(source)} (kept in {escape_markdown(str(trash))})."
        return removed + "\n\n" + self._run_job(progress, rebuild=False, documents=documents)

    def create_collection(self, name: str, request: gr.Request) -> tuple[str, Any]:
        """A new, empty collection (admins), chosen in the picker at once; its creator owns it."""
        self.require_admin(request)
        name = (name or "").strip()
        user = self.user_of(request)
        try:
            made = collections.create(self.settings, name, made_by=user or None)
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        note = f"Created collection {escape_markdown(name)}; its documents folder is `{made.docs_dir}`."
        return note, gr.update(choices=self.engines.names(user), value=name)

    def rename_collection(self, collection: str | None, new_name: str, request: gr.Request) -> tuple[str, Any]:
        """Rename the chosen collection (admins; not `default`), chosen under its new name."""
        self.require_admin(request)
        user = self.user_of(request)
        new_name = (new_name or "").strip()
        try:
            name = self.engines.check(collection or None, user)
            collections.rename(self.settings, name, new_name)
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        self._documents.pop(name, None)
        note = f"Renamed collection {escape_markdown(name)} to {escape_markdown(new_name)}."
        if self.users is not None and self.users.restricted:
            note += " Grants in the QA_AUTH file name collections: update them to the new name."
        return note, gr.update(choices=self.engines.names(user), value=new_name)

    def delete_collection(
        self, collection: str | None, confirmed: bool, with_documents: bool, request: gr.Request
    ) -> tuple[str, Any]:
        """Delete the chosen collection's index (admins, once confirmed; its folder too if asked)."""
        self.require_admin(request)
        if not confirmed:
            raise gr.Error("Tick “Yes, delete this collection” first.")
        user = self.user_of(request)
        try:
            name = self.engines.check(collection or None, user)
            collections.delete(self.settings, name, remove_documents=bool(with_documents))
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        self._documents.pop(name, None)
        kept = "" if with_documents else " Its documents folder is kept."
        note = f"Deleted collection {escape_markdown(name)}.{kept}"
        return note, gr.update(choices=self.engines.names(user), value=self.engines.default_for(user))

    def picker(self, request: gr.Request) -> Any:
        """The collections this user may see, their default chosen."""
        user = self.user_of(request)
        return gr.update(choices=self.engines.names(user), value=self.engines.default_for(user))

    def refresh(self, request: gr.Request, collection: str | None = None) -> tuple[Any, ...]:
        admin = self.is_admin(request)
        if not collection and self.engines.default_for(self.user_of(request)) is None:
            none = "No collection is shared with you: ask an administrator for access."
            return (
                none,
                documents_html(Overview([], 0, None)),
                gr.update(choices=[], value=None),
                gr.update(visible=False),
            )
        view = self.documents_of(collection, request).overview()
        synced = self.synced if (collection or self.settings.collection) == self.settings.collection else None
        return (
            status_line(view, self.settings.backend, synced),
            documents_html(view),
            gr.update(choices=[doc.source for doc in view.documents], value=None),
            gr.update(visible=admin),
        )
