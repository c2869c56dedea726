"""The page: its layout (chat, sources, conversations sidebar, collection picker, documents tab)
and which of the App's handlers each event calls, in which queue."""

from __future__ import annotations

import gradio as gr

from ..answering.engine import Engine
from ..config import Settings
from ..store.overview import Overview
from .app import STATUS_EVERY_S, App, documents_html, status_line
from .documents import example_questions
from .render import escape_markdown, sources_html
from .uploads import SUPPORTED


def build(settings: Settings, engine: Engine | None = None, watching: bool = False) -> tuple[gr.Blocks, App]:
    """The page and its handlers; `watching`: the status line follows the folder's syncs."""
    app = App(settings, engine)
    accepted = [f".{ext.lstrip('.')}" for ext in SUPPORTED]
    # What the page is built with is served to everyone who logs in: when users see different
    # collections, it holds none of theirs, and each page fills in its user's on load.
    shared = app.users is None or not app.users.restricted
    view = app.documents.overview() if shared else Overview([], 0, None)
    with gr.Blocks(title="Ask your documents") as demo:
        gr.Markdown("## Ask your documents")
        status = gr.Markdown(status_line(view, settings.backend) if shared else "", elem_id="status")
        turns = gr.State([])
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
                choices=app.engines.names() if shared else [],
                value=settings.collection if shared else None,
                # each user's own choices come on load; the server checks every name it is sent
                allow_custom_value=not shared,
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
            with gr.Row():
                renamed_to = gr.Textbox(label="Rename this collection to", elem_id="rename-collection-name")
                rename_collection = gr.Button("Rename collection", elem_id="rename-collection")
            with gr.Row():
                with_documents = gr.Checkbox(label="Also delete its documents folder", elem_id="delete-documents")
                confirmed = gr.Checkbox(label="Yes, delete this collection", elem_id="confirm-delete")
                delete_collection = gr.Button("Delete collection", elem_id="delete-collection", variant="stop")
            job = gr.Markdown(elem_id="job-status")
            documents = gr.HTML(documents_html(view), elem_id="documents")

        chat_outputs = [chat, question, sources, turns, conversation, saved]
        ask_options = {"concurrency_limit": settings.answer_concurrency, "concurrency_id": "answers"}
        asked = [question, chat, turns, collection, conversation]
        # each answer is saved by its own event, in the conversation it was asked in
        answering = [
            question.submit(app.respond, asked, chat_outputs, api_visibility="private", **ask_options),
            send.click(app.respond, asked, chat_outputs, api_visibility="private", **ask_options),
            chat.example_select(
                app.respond_example,
                [chat, turns, collection, conversation],
                chat_outputs,
                api_visibility="private",
                **ask_options,
            ),
        ]
        # Leaving a conversation stops the answer being written into it: otherwise its last
        # updates would bring the old conversation back into the chat (and its turn to the next).
        switch = {"api_visibility": "private", "cancels": answering}
        fresh = [chat, question, sources, turns, conversation, saved]
        new_chat.click(app.chats.new_conversation, None, fresh, **switch)
        saved.input(app.chats.resume, [saved], [chat, sources, turns, conversation, collection], **switch)
        rename_chat.click(app.chats.rename_conversation, [conversation, new_title], [saved], api_visibility="private")
        delete_chat.click(app.chats.delete_conversation, [conversation], fresh, **switch)
        export_chat.click(app.chats.export_conversation, [conversation], [exported], api_visibility="private")
        clear.click(app.chats.new_conversation, None, fresh, **switch)
        chat.clear(app.chats.new_conversation, None, fresh, **switch)

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
        rename_collection.click(
            app.rename_collection, [collection, renamed_to], [job, collection], api_visibility="private"
        ).then(app.refresh, [collection], refresh_outputs, api_visibility="private")
        delete_collection.click(
            app.delete_collection, [collection, confirmed, with_documents], [job, collection], **job_options
        ).then(app.refresh, [collection], refresh_outputs, api_visibility="private")
        # another collection: another conversation, and its documents in the Documents tab
        collection.input(app.chats.new_conversation, None, fresh, **switch)
        collection.change(app.refresh, [collection], refresh_outputs, api_visibility="private")
        demo.load(app.picker, None, [collection], api_visibility="private").then(
            app.refresh, [collection], refresh_outputs, api_visibility="private"
        )
        demo.load(app.chats.choices_update, None, [saved], api_visibility="private")
        if watching:  # the status line follows the watcher's syncs (a read of index.json and the records)
            gr.Timer(STATUS_EVERY_S).tick(
                app.status, [collection], [status], api_visibility="private", show_progress="hidden"
            )
        gr.api(app.ask, api_name="ask", **ask_options)  # same queue and limit as the chat
    return demo, app
