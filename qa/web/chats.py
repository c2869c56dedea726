"""The app's saved conversations, as the sidebar shows them: the answer just given kept in the
user's conversation, a conversation resumed with its citations, renamed, deleted or exported as
Markdown. The user is the login's name, or the local user without login; the store
(`conversations`) matches it on every read and write."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from ..errors import ConversationNotFound, QAError
from ..types import Answer
from .conversations import LOCAL_USER, Conversation, Conversations
from .render import answer_markdown, escape_markdown, sources_html


class Chats:
    """The sidebar's handlers over the conversation store."""

    def __init__(
        self,
        store: Conversations,
        default_collection: str,
        may_see: Callable[[gr.Request | None, str], bool] = lambda request, collection: True,
    ) -> None:
        self.store = store
        self.default_collection = default_collection
        #: may this request's user see that collection? A conversation in one they may not (any
        #: more) is not listed, resumed or exported: its citations quote that collection
        self.may_see = may_see

    def choices_update(self, request: gr.Request) -> Any:
        return gr.update(choices=self.conversation_choices(request))

    def user_of(self, request: gr.Request | None) -> str:
        name = getattr(request, "username", None) if request is not None else None
        return str(name) if name else LOCAL_USER

    def conversation_choices(self, request: gr.Request | None) -> list[tuple[str, str]]:
        return [
            (f"{item.title} ({item.collection})", item.id)
            for item in self.store.list(self.user_of(request))
            if self.may_see(request, item.collection)
        ]

    def keep(
        self, question: str, answer: Answer, key: str | None, collection: str | None, request: gr.Request | None
    ) -> tuple[str, Any]:
        """Keep the answer just given in the user's conversation `key` (a new one, titled by its
        first question, when None): its id, and the sidebar's list updated to show it. Raises
        QAError (a conversation deleted meanwhile)."""
        user = self.user_of(request)
        if key is None:
            key = self.store.start(user, collection or self.default_collection, question)
        self.store.add(key, user, question, answer)
        return key, gr.update(choices=self.conversation_choices(request), value=key)

    def resume(self, key: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A saved conversation back in the chat, with its citations, in its collection."""
        if not key:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            conversation = self._visible(key, request)
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        chat: list[dict[str, Any]] = []
        turns: list[dict[str, str]] = []
        for number, (question, answer) in enumerate(conversation.turns, 1):
            chat += [{"role": "user", "content": escape_markdown(question)}]
            chat += [{"role": "assistant", "content": answer_markdown(answer, number)}]
            turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
        last = conversation.turns[-1][1] if conversation.turns else None
        sources = sources_html(last, len(conversation.turns))
        return chat, sources, turns, key, gr.update(value=conversation.collection)

    def _visible(self, key: str, request: gr.Request | None) -> Conversation:
        """The user's conversation `key`, if they may still see its collection."""
        conversation = self.store.get(key, self.user_of(request))
        if not self.may_see(request, conversation.collection):
            raise ConversationNotFound("no such conversation")
        return conversation

    def new_conversation(self) -> tuple[Any, ...]:
        return [], "", sources_html(None, 0), [], None, gr.update(value=None)

    def rename_conversation(self, key: str | None, title: str, request: gr.Request) -> Any:
        if not key:
            raise gr.Error("Choose a conversation to rename.")
        try:
            self.store.rename(key, self.user_of(request), title or "")
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        return gr.update(choices=self.conversation_choices(request), value=key)

    def delete_conversation(self, key: str | None, request: gr.Request) -> tuple[Any, ...]:
        if not key:
            raise gr.Error("Choose a conversation to delete.")
        try:
            self.store.delete(key, self.user_of(request))
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        cleared = self.new_conversation()
        return (*cleared[:5], gr.update(choices=self.conversation_choices(request), value=None))

    def export_conversation(self, key: str | None, request: gr.Request) -> str:
        """The conversation as a Markdown file (with its cited quotes) to download."""
        if not key:
            raise gr.Error("Choose a conversation to export.")
        try:
            self._visible(key, request)
            text = self.store.markdown(key, self.user_of(request))
        except QAError as exc:
            raise gr.Error(str(exc)) from exc
        folder = Path(tempfile.mkdtemp(prefix="qa-export-"))
        path = folder / "conversation.md"
        path.write_text(text, encoding="utf-8")
        return str(path)
