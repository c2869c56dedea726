"""An OpenAI-compatible chat API over the answer engine (`python -m qa serve`).

Routes: `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/chat/completions` (streaming or not).

- The last message is the question (it must be a user message); the user and assistant messages
  before it are the chat history (follow-ups are condensed as everywhere else). System and
  developer messages are ignored: the prompt is ours. Sampling options (temperature, max_tokens,
  tools, ...) are accepted and ignored.
- The models are the collections: `GET /v1/models` lists their names, `model` picks the one a
  question goes to ("qa" is the server's own collection, `--collection`, default `default`); an
  unknown model is a 404 `model_not_found`, as OpenAI answers.
- The assistant message's content is the short answer on its own line when there is one (a name,
  a number, a date: `short`), then the checked, cited answer text ([n] markers). The completion
  object carries two extra top-level fields: `citations`, the list of citation objects of
  `python -m qa ask --json`, and `answer`, the rest of that object (not_found, unsupported,
  claims with each sentence's verdict, fallback, error, backend, question, standalone_question,
  text).
- Streaming sends the checked answer: the answer is computed and checked first, then its text is
  streamed word by word in OpenAI chunks, so the streamed content equals the non-streamed content
  and its [n] markers always match `citations`. The last chunk (finish_reason "stop") carries
  `citations` and `answer`; then `data: [DONE]`. With an LLM backend the first word therefore
  arrives when the whole answer has been generated and checked.
- With settings.api_key (QA_API_KEY) or settings.api_keys (QA_API_KEYS), every request needs
  `Authorization: Bearer <key>`, else 401; an address that sent 20 wrong keys in 15 minutes gets
  429 for a while. A QA_API_KEYS key stands for its user: `/v1/models` lists only the collections
  they are granted, and any other model is 404 as if it did not exist.
- Errors are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}; 400 for bad requests
  (invalid JSON, missing or empty messages, last message not from the user), 401, 404, 405, and
  500 for failures of the index or the engine.
- Answers run in a thread pool, settings.answer_concurrency at once; more requests wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .answering.engine import Engine
from .answering.engines import EnginePool
from .config import Settings
from .errors import APIError, NoSuchCollection, QAError
from .http_auth import KeyAuth, request_user, server_access
from .text.chat import chat_turns, content_text
from .types import Answer

log = logging.getLogger(__name__)

MODEL_ID = "qa"


class ChatMessage(BaseModel):
    """One message of the conversation, as the OpenAI API spells it (extra fields ignored)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text (text parts of a multi-part content joined with spaces)."""
        return content_text(self.content) or ""


class ChatRequest(BaseModel):
    """The body of POST /v1/chat/completions; options this API does not use are accepted."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    n: int = Field(1, ge=1, le=1)


def error_response(error: APIError, headers: dict[str, str] | None = None) -> JSONResponse:
    """An APIError as the OpenAI API spells errors."""
    body = {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}
    return JSONResponse(body, status_code=error.status, headers=headers)


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The question (the last message, from the user) and the history before it."""
    last = messages[-1]
    if last.role != "user":
        raise APIError(
            400, f"The last message must be the user's question, not a {last.role!r} message.", param="messages"
        )
    question = last.text().strip()
    if not question:
        raise APIError(400, "The last message has no text.", param="messages")
    history = chat_turns([{"role": m.role, "content": m.text()} for m in messages[:-1]])
    return question, history


def answer_fields(answer: Answer) -> dict[str, Any]:
    """The extra top-level fields of a completion: `citations` and `answer` (the rest of the
    `python -m qa ask --json` object)."""
    data = answer.to_json()
    citations = data.pop("citations")
    return {"citations": citations, "answer": data}


def content(answer: Answer) -> str:
    """The message content: the short answer first, on a line of its own, then the answer."""
    return f"{answer.short}\n\n{answer.text}" if answer.short else answer.text


def text_pieces(text: str) -> list[str]:
    """The text cut into words, each with its trailing whitespace ("".join gives it back)."""
    return [piece for piece in re.split(r"(?<=\s)(?=\S)", text) if piece]


class Completions:
    """Builds completion objects and stream chunks for one request."""

    def __init__(self, model: str = MODEL_ID) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def _base(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model, "system_fingerprint": None}

    def completion(self, answer: Answer) -> dict[str, Any]:
        message = {"role": "assistant", "content": content(answer), "refusal": None}
        choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
        return {**self._base("chat.completion"), "choices": [choice], "usage": None, **answer_fields(answer)}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**self._base("chat.completion.chunk"), "choices": [choice]}

    def events(self, answer: Answer) -> Iterator[str]:
        """Server-sent events: the role, the answer word by word, the final chunk, [DONE]."""
        chunks = [self.chunk({"role": "assistant", "content": ""})]
        chunks += [self.chunk({"content": piece}) for piece in text_pieces(content(answer))]
        chunks.append({**self.chunk({}, finish="stop"), **answer_fields(answer)})
        for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"


def model_card(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "qa"}


def _validation_error(exc: RequestValidationError) -> APIError:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return APIError(400, "The request body is not valid JSON.")
    where = [str(part) for part in first.get("loc", ()) if part != "body"]
    if not where:  # no body, or not an object
        return APIError(400, 'The request body must be a JSON object with "messages".')
    param = ".".join(where)
    return APIError(400, f"{first.get('msg', 'Invalid value')}: {param}", param=param)


def unauthorized() -> JSONResponse:
    error = APIError(
        401,
        "Missing or incorrect API key: send the header 'Authorization: Bearer <QA_API_KEY>'.",
        code="invalid_api_key",
    )
    return error_response(error, headers={"WWW-Authenticate": "Bearer"})


def too_many(seconds: int) -> JSONResponse:
    error = APIError(
        429,
        f"Too many requests with a wrong API key from this address: try again in {seconds} s.",
        type_="rate_limit_error",
        code="rate_limit_exceeded",
    )
    return error_response(error, headers={"Retry-After": str(seconds)})


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The API over the collections of settings' index root; `engine` (default: a new
    Engine(settings), which opens the index now) answers for settings' collection. With
    QA_API_KEYS each request sees only what its key's user is granted."""
    access = server_access(settings)
    engine = engine or Engine(settings)
    engines = EnginePool(settings, embeddings=engine.embeddings, users=access.users)
    engines.adopt(engine)
    started = int(time.time())
    slots = asyncio.Semaphore(settings.answer_concurrency)
    app = FastAPI(title="qa: OpenAI-compatible API", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engines = engines
    if access.needs_key:
        app.add_middleware(KeyAuth, **access.guard_options(unauthorized, too_many))

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        else:
            message = str(exc.detail)
        return error_response(APIError(exc.status_code, message), headers=exc.headers)

    @app.exception_handler(NoSuchCollection)
    async def _no_collection(request: Request, exc: NoSuchCollection) -> JSONResponse:
        return error_response(APIError(404, str(exc), param="model", code="model_not_found"))

    @app.exception_handler(QAError)
    async def _qa_error(request: Request, exc: QAError) -> JSONResponse:
        log.error("answering failed: %s", exc)
        return error_response(APIError(500, str(exc), type_="server_error"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(APIError(500, "The server failed to answer; see its log.", type_="server_error"))

    def collection_of(model: str, user: str | None) -> str:
        """The collection a model id names for `user` ("qa": the server's own, else their first);
        404 as OpenAI answers an unknown model, and the same for one `user` may not see."""
        name = (engines.default_for(user) or engines.default) if model in (MODEL_ID, "") else model
        if name not in engines.names(user):
            raise APIError(
                404,
                f"The model {model!r} does not exist; the models are the collections: GET /v1/models lists them.",
                param="model",
                code="model_not_found",
            )
        return name

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        names = await run_in_threadpool(engines.names, request_user(request.scope))
        return {"object": "list", "data": [model_card(name, started) for name in names]}

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str, request: Request) -> dict[str, Any]:
        await run_in_threadpool(collection_of, model_id, request_user(request.scope))
        return model_card(model_id, started)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest, request: Request) -> JSONResponse | StreamingResponse:
        question, history = split_messages(body.messages)
        user = request_user(request.scope)
        name = await run_in_threadpool(collection_of, body.model, user)
        began = time.perf_counter()
        async with slots:
            answer = await run_in_threadpool(lambda: engines.get(name, user).answer(question, history))
        log.info("answered in %.0f ms (%d citations)", (time.perf_counter() - began) * 1000, len(answer.citations))
        completions = Completions(body.model or MODEL_ID)
        if body.stream:
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return StreamingResponse(completions.events(answer), media_type="text/event-stream", headers=headers)
        return JSONResponse(completions.completion(answer))

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Open the index, load the model, and serve the API until interrupted."""
    import uvicorn

    engine = Engine(settings)
    engine.retriever.search("warm up", k=1)  # load the model and the keyword index before the first request
    app = create_app(settings, engine)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level in ("info", "debug"))
    finally:
        app.state.engines.close()
