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

from ..answering.engine import Engine
from ..answering.engines import EnginePool
from ..config import Settings
from ..errors import QAError
from ..ingestion.watch import Sync, watch
from ..store import collections
from ..store.overview import Overview
from ..types import Answer, Progress
from .auth import Users, load_users
from .chats import Chats
from .conversations import Conversations
from .documents import Documents, example_questions
from .render import answer_markdown, escape_markdown, sources_html
from .uploads import SUPPORTED

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
        #: one engine per collection (the one the app was started with open now), one model
        self.engines = EnginePool(settings, embeddings=engine.embeddings if engine is not None else None)
        self.engines.adopt(engine or Engine(settings))
        self._documents: dict[str, Documents] = {settings.collection: Documents(settings)}
        self.chats = Chats(Conversations(settings.conversations_path), settings.collection)
        self.users: Users | None = load_users(
            settings.auth.get_secret_value() if settings.auth else None, settings.admins
        )
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

    def documents_of(self, collection: str | None) -> Documents:
        """The documents folder and index of a collection (the picker's choice)."""
        name = collection or self.settings.collection
        if name not in self._documents:
            try:
                self._documents[name] = Documents(self.engines.settings_of(name))
            except QAError as exc:
                raise gr.Error(str(exc)) from exc
        return self._documents[name]

    def engine_of(self, collection: str | None) -> Engine:
        try:
            return self.engines.get(collection or None)
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

    def status(self) -> str:
        return status_line(self.documents.overview(), self.settings.backend, self.synced)

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
        self, message: str, chat: list[dict[str, Any]], turns: list[dict[str, str]], collection: str | None = None
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """Stream the answer (from the chosen collection, never another) into the chat, then show
        the checked answer and its sources."""
        question = (message or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        engine = self.engine_of(collection)
        answer_no = len(turns) // 2 + 1
        chat = [*chat, {"role": "user", "content": escape_markdown(question)}, {"role": "assistant", "content": "…"}]
        yield chat, "", gr.skip(), turns, gr.skip()
        streamed = ""
        final: Answer | None = None
        try:
            for event in engine.stream(question, turns):
                if isinstance(event, Answer):
                    final = event
                else:
                    streamed += event
                    chat[-1] = {"role": "assistant", "content": escape_markdown(streamed)}
                    yield chat, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except QAError as exc:
            log.warning("answer failed: %s", exc)
            raise gr.Error(str(exc)) from exc
        assert final is not None
        chat[-1] = {"role": "assistant", "content": answer_markdown(final, answer_no)}
        turns = [*turns, {"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
        yield chat, gr.skip(), sources_html(final, answer_no), turns, {"question": question, **final.to_json()}

    def respond_example(
        self, chat: list[dict[str, Any]], turns: list[dict[str, str]], collection: str | None, event: gr.SelectData
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        yield from self.respond(str(event.value.get("text", "")), chat, turns, collection)

    def ask(
        self, question: str, history: list[dict[str, Any]] | None = None, collection: str | None = None
    ) -> dict[str, Any]:
        """The API: the answer as `python -m qa ask --json` prints it (`collection`: default the app's)."""
        engine = self.engine_of(collection)
        try:
            return engine.answer(question, history or []).to_json()
        except QAError as exc:
            raise gr.Error(str(exc)) from exc

    # --- documents ---------------------------------------------------------------------------
    def _run_job(self, progress: gr.Progress, rebuild: bool, collection: str | None = None) -> str:
        def report(step: Progress) -> None:
            if step.files_total:
                done = f"{step.files_done}/{step.files_total} files, {step.chunks_added} chunks"
                progress(step.files_done / step.files_total, desc=done)

        progress(0, desc="starting")
        try:
            summary = self.documents_of(collection).update(rebuild=rebuild, on_progress=report)
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
        result = self.documents_of(collection).save(uploads)
        note = escape_markdown(result.summary())
        if not result.saved:
            return note, None
        return note + "\n\n" + self._run_job(progress, rebuild=False, collection=collection), None

    def rebuild(self, collection: str | None, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:
        self.require_admin(request)
        return self._run_job(progress, rebuild=True, collection=collection)

    def remove(
        self, source: str | None, collection: str | None, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> str:
        """Move the document aside (documents.Documents.remove) and update the index."""
        self.require_admin(request)
        if not source:
            raise gr.Error("Choose a document to remove.")
        try:
            trash = self.documents_of(collection).remove(source)
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        removed = f"Removed {escape_markdown(source)} (kept in {escape_markdown(str(trash))})."
        return removed + "\n\n" + self._run_job(progress, rebuild=False, collection=collection)

    def create_collection(self, name: str, request: gr.Request) -> tuple[str, Any]:
        """A new, empty collection (admins), chosen in the picker at once."""
        self.require_admin(request)
        name = (name or "").strip()
        try:
            made = collections.create(self.settings, name)
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        note = f"Created collection {escape_markdown(name)}; its documents folder is `{made.docs_dir}`."
        return note, gr.update(choices=self.engines.names(), value=name)

    def refresh(self, request: gr.Request, collection: str | None = None) -> tuple[Any, ...]:
        admin = self.is_admin(request)
        view = self.documents_of(collection).overview()
        synced = self.synced if (collection or self.settings.collection) == self.settings.collection else None
        return (
            status_line(view, self.settings.backend, synced),
            documents_html(view),
            gr.update(choices=[doc.source for doc in view.documents], value=None),
            gr.update(visible=admin),
        )


def build(settings: Settings, engine: Engine | None = None, watching: bool = False) -> tuple[gr.Blocks, App]:
    """The page and its handlers; `watching`: the status line follows the folder's syncs."""
    app = App(settings, engine)
    accepted = [f".{ext.lstrip('.')}" for ext in SUPPORTED]
    view = app.documents.overview()
    with gr.Blocks(title="Ask your documents") as demo:
        gr.Markdown("## Ask your documents")
        status = gr.Markdown(status_line(view, settings.backend), elem_id="status")
        turns = gr.State([])
        last = gr.State(None)  # the answer just given, to be saved
        conversation = gr.State(None)  # the saved conversation's id
        with gr.Sidebar(label="Conversations", open=True):
            saved = gr.Radio(label="Conversations", choices=[], elem_id="conversations")
            new_chat = gr.Button("New conversation", elem_id="new-conversation", size="sm")
            new_title = gr.Textbox(label="Rename to", elem_id="conversation-title")
            with gr.Row():
                rename_chat = gr.Button("Rename", elem_id="rename-conversation", size="sm")
                delete_chat = gr.Button("Delete", elem_id="delete-conversation", size="sm", variant="stop")
            export_chat = gr.Button("Export as Markdown", elem_id="export-conversation", size="sm")
            exported = gr.File(label="Exported conversation", elem_id="exported", interactive=False)
        with gr.Row():
            collection = gr.Dropdown(
                label="Collection",
                choices=app.engines.names(),
                value=settings.collection,
                elem_id="collection",
                scale=1,
                info="Questions go to this collection only; the Documents tab manages it.",
            )
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        elem_id="chat",
                        height=520,
                        examples=example_questions(view) or None,
                        placeholder="Ask a question about the documents. Answers cite their sources as [n].",
                        sanitize_html=True,
                        buttons=["copy"],
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            elem_id="question", placeholder="Your question", show_label=False, scale=5, autofocus=True
                        )
                        send = gr.Button("Ask", elem_id="send", variant="primary", scale=1)
                    clear = gr.Button("Clear conversation", elem_id="clear", size="sm")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(sources_html(None, 0), elem_id="sources")
        with gr.Tab("Documents", visible=app.users is None) as documents_tab:  # shown to admins on load
            gr.Markdown(
                f"Documents folder: `{escape_markdown(str(settings.docs_dir))}`. Supported: {', '.join(accepted)}; "
                f"up to {settings.max_upload_mb:g} MB each. Questions keep being answered while the index updates."
            )
            files = gr.File(label="Upload documents", file_count="multiple", file_types=accepted, elem_id="upload")
            upload = gr.Button("Add to index", elem_id="add-documents", variant="primary")
            with gr.Row():
                to_remove = gr.Dropdown(label="Indexed document", choices=[], elem_id="remove-choice")
                remove = gr.Button("Remove from index", elem_id="remove", variant="stop")
            rebuild = gr.Button("Rebuild index", elem_id="rebuild")
            with gr.Row():
                new_name = gr.Textbox(
                    label="New collection", placeholder="lower-case letters, digits, - or _", elem_id="new-collection"
                )
                create = gr.Button("Create collection", elem_id="create-collection")
            job = gr.Markdown(elem_id="job-status")
            documents = gr.HTML(documents_html(view), elem_id="documents")

        chat_outputs = [chat, question, sources, turns, last]
        ask_options = {"concurrency_limit": settings.answer_concurrency, "concurrency_id": "answers"}
        asked = [question, chat, turns, collection]
        keep = {"fn": app.chats.save_turn, "inputs": [last, conversation, collection], "outputs": [conversation, saved]}
        question.submit(app.respond, asked, chat_outputs, api_visibility="private", **ask_options).then(
            **keep, api_visibility="private"
        )
        send.click(app.respond, asked, chat_outputs, api_visibility="private", **ask_options).then(
            **keep, api_visibility="private"
        )
        chat.example_select(
            app.respond_example, [chat, turns, collection], chat_outputs, api_visibility="private", **ask_options
        ).then(**keep, api_visibility="private")
        fresh = [chat, question, sources, turns, conversation, saved]
        new_chat.click(app.chats.new_conversation, None, fresh, api_visibility="private")
        saved.input(
            app.chats.resume, [saved], [chat, sources, turns, conversation, collection], api_visibility="private"
        )
        rename_chat.click(app.chats.rename_conversation, [conversation, new_title], [saved], api_visibility="private")
        delete_chat.click(app.chats.delete_conversation, [conversation], fresh, api_visibility="private")
        export_chat.click(app.chats.export_conversation, [conversation], [exported], api_visibility="private")
        clear.click(app.chats.new_conversation, None, fresh, api_visibility="private")
        chat.clear(app.chats.new_conversation, None, fresh, api_visibility="private")

        refresh_outputs = [status, documents, to_remove, documents_tab]
        job_options = {"concurrency_limit": 1, "concurrency_id": "ingest", "api_visibility": "private"}
        upload.click(app.upload, [files, collection], [job, files], **job_options).then(
            app.refresh, [collection], refresh_outputs, api_visibility="private"
        )
        rebuild.click(app.rebuild, [collection], [job], **job_options).then(
            app.refresh, [collection], refresh_outputs, api_visibility="private"
        )
        remove.click(app.remove, [to_remove, collection], [job], **job_options).then(
            app.refresh, [collection], refresh_outputs, api_visibility="private"
        )
        create.click(app.create_collection, [new_name], [job, collection], api_visibility="private")
        # another collection: another conversation, and its documents in the Documents tab
        collection.input(app.chats.new_conversation, None, fresh, api_visibility="private")
        collection.change(app.refresh, [collection], refresh_outputs, api_visibility="private")
        demo.load(lambda: gr.update(choices=app.engines.names()), None, [collection], api_visibility="private")
        demo.load(app.chats.choices_update, None, [saved], api_visibility="private")
        demo.load(app.refresh, [collection], refresh_outputs, api_visibility="private")
        if watching:  # the status line follows the watcher's syncs (a read of index.json and the records)
            gr.Timer(STATUS_EVERY_S).tick(app.status, None, [status], api_visibility="private", show_progress="hidden")
        gr.api(app.ask, api_name="ask", **ask_options)  # same queue and limit as the chat
    return demo, app
