"""Collections: each its own documents folder and index under one root; a question goes to the
collection named and never another; create, rename and delete are single renames under the
collection's write lock. Which passage answers does not depend on the model: the hash double."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import openai
import pytest
from mcp import Client

from qa import load_settings
from qa.answering.engine import Engine
from qa.answering.engines import EnginePool
from qa.cli import qa_main
from qa.errors import ConfigError, IndexBusy, IndexMissing
from qa.ingestion.pipeline import ingest
from qa.mcp_server import create_server
from qa.openai_api import create_app
from qa.store import collections
from qa.store.lock import WriteLock

from .conftest import SEEDS, run_cli
from .doubles import HASH_THRESHOLDS, HashEmbeddings
from .test_api import running

LIGHTHOUSE = "The Zorblat lighthouse was painted violet by Mara Veltin in 1987."
QUESTION = "Who painted the Zorblat lighthouse violet?"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, hash_embeddings: HashEmbeddings) -> Path:
    """An index root: the seeds in `default`, one lighthouse note in `beta`."""
    base = tmp_path_factory.mktemp("collections")
    ingest([SEEDS], load_settings(index_dir=base / "index"), embeddings=hash_embeddings)
    notes = base / "beta-notes"
    notes.mkdir()
    (notes / "lighthouse.txt").write_text(f"Lighthouse log\n\n{LIGHTHOUSE}\n", encoding="utf-8")
    beta = load_settings(index_dir=base / "index", collection="beta")
    collections.ensure(beta)  # what `ingest --collection beta` does first
    ingest([notes], beta, embeddings=hash_embeddings)
    return base / "index"


def settings(root: Path, collection: str = "default", **extra: Any) -> Any:
    return load_settings(index_dir=root, collection=collection, **HASH_THRESHOLDS, **extra)


def test_each_collection_has_its_own_index_and_documents_folder(root: Path) -> None:
    listed = {info.name: info for info in collections.list_collections(settings(root))}
    assert list(listed) == ["default", "beta"]
    assert listed["beta"].documents == 1 and listed["beta"].chunks >= 1
    assert listed["default"].documents == 1 and listed["default"].chunks > listed["beta"].chunks
    beta = settings(root, "beta")
    assert beta.index_dir == root / "collections" / "beta" / "index" and beta.docs_dir == root / "documents" / "beta"
    assert beta.docs_dir.is_dir()


def test_a_question_goes_to_its_collection_and_never_another(root: Path, hash_embeddings: HashEmbeddings) -> None:
    beta = Engine(settings(root, "beta"), embeddings=hash_embeddings)
    default = Engine(settings(root), embeddings=hash_embeddings)
    try:
        found = beta.answer(QUESTION)
        assert not found.not_found and "Mara Veltin" in found.text
        assert {citation.collection for citation in found.citations} == {"beta"}
        assert found.to_json()["citations"][0]["collection"] == "beta"
        elsewhere = default.answer(QUESTION)  # the answer exists only in beta
        assert elsewhere.not_found and "Veltin" not in elsewhere.text
        assert all(citation.collection == "default" for citation in elsewhere.citations)
        seeds = default.answer("Which two Chinese banks restricted financing?")
        assert seeds.citations and all(c.collection == "default" for c in seeds.citations)
        assert beta.answer("Which two Chinese banks restricted financing?").not_found
    finally:
        beta.close()
        default.close()


def test_a_child_process_resolves_the_same_collection(root: Path) -> None:
    beta = settings(root, "beta")
    child = load_settings(**json.loads(beta.for_child()["QA_SETTINGS_JSON"]))
    assert (child.index_dir, child.docs_dir, child.index_root) == (beta.index_dir, beta.docs_dir, root)


def test_names_are_checked_and_unknown_collections_refused(root: Path) -> None:
    for bad in ("../etc", "Beta", "a/b", "", "-x"):
        with pytest.raises(ConfigError, match="collection"):
            collections.create(settings(root), bad)
    with pytest.raises(ConfigError, match="exists already"):
        collections.create(settings(root), "beta")
    with pytest.raises(ConfigError, match="no collection 'gamma'"):
        collections.settings_for(settings(root), "gamma")
    with pytest.raises(ConfigError, match="cannot be deleted"):
        collections.delete(settings(root), "default")


def test_create_rename_and_delete(root: Path, tmp_path: Path, hash_embeddings: HashEmbeddings) -> None:
    work = tmp_path / "index"
    shutil.copytree(root, work)
    made = collections.create(settings(work), "gamma")
    (made.docs_dir / "tides.txt").write_text("High tide at Port Anselm is at 06:40.\n", encoding="utf-8")
    ingest(None, made, embeddings=hash_embeddings)  # no PATH: the collection's own documents folder
    assert collections.describe(made).chunks >= 1

    collections.rename(settings(work), "gamma", "tides")
    assert collections.names(settings(work)) == ["default", "beta", "tides"]
    renamed = collections.settings_for(settings(work), "tides")
    assert (renamed.docs_dir / "tides.txt").is_file() and collections.describe(renamed).documents == 1

    with WriteLock(renamed.index_dir, timeout_s=0):  # an ingest is writing: neither rename nor delete
        with pytest.raises(IndexBusy, match="being ingested"):
            collections.delete(settings(work), "tides")
    open_engine = Engine(settings(work, "tides"), embeddings=hash_embeddings)
    try:
        assert "06:40" in open_engine.answer("When is high tide at Port Anselm?").text
        collections.delete(settings(work), "tides")
        # the engine that had it open: a clear error for the next question, not a crash
        with pytest.raises(IndexMissing, match="collection 'tides' does not exist"):
            open_engine.answer("When is high tide at Port Anselm?")
    finally:
        open_engine.close()
    assert collections.names(settings(work)) == ["default", "beta"]
    assert (work / "documents" / "tides" / "tides.txt").is_file()  # documents kept unless asked
    with pytest.raises(ConfigError, match="no collection 'tides'"):
        EnginePool(settings(work), embeddings=hash_embeddings).get("tides")
    collections.delete(settings(work), "beta", remove_documents=True)
    assert not (work / "documents" / "beta").exists() and not (work / "collections" / "beta").exists()
    assert not [path for path in (work / "collections").iterdir() if path.name.startswith(".")]


def test_delete_asks_first(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "index"
    shutil.copytree(root, work)
    assert qa_main(["collections", "delete", "beta", "--index", str(work)]) == 1  # stdin is no terminal
    assert "needs --yes" in capsys.readouterr().err and collections.exists(settings(work), "beta")
    assert qa_main(["collections", "delete", "beta", "--index", str(work), "--yes"]) == 0
    assert not collections.exists(settings(work), "beta")


def test_cli_commands_take_the_collection(root: Path) -> None:
    listed = run_cli(["-m", "qa", "collections", "--index", str(root), "--json"])
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [row["name"] for row in rows] == ["default", "beta"] and all({"documents", "chunks"} <= set(r) for r in rows)
    env = {"QA_COLLECTION": "beta", "QA_INDEX_DIR": str(root)}
    asked = run_cli(["-m", "qa", "search", "Zorblat lighthouse", "--json"], env=env)  # on top of this environment
    assert asked.returncode == 0, asked.stderr
    passages = json.loads(asked.stdout)
    assert passages and {passage["collection"] for passage in passages} == {"beta"}
    missing = run_cli(["-m", "qa", "ask", QUESTION, "--index", str(root), "--collection", "nope"])
    assert missing.returncode == 1 and "no collection 'nope'" in missing.stderr


async def test_mcp_tools_take_a_collection(root: Path, hash_embeddings: HashEmbeddings) -> None:
    pool = EnginePool(settings(root), embeddings=hash_embeddings)
    try:
        async with Client(create_server(pool), raise_exceptions=True) as client:
            listed = (await client.call_tool("list_collections", {})).structured_content["collections"]
            assert [(c["name"], c["default"]) for c in listed] == [("default", True), ("beta", False)]
            beta = (await client.call_tool("ask", {"question": QUESTION, "collection": "beta"})).structured_content
            assert "Mara Veltin" in beta["text"] and {c["collection"] for c in beta["citations"]} == {"beta"}
            default = (await client.call_tool("ask", {"question": QUESTION})).structured_content
            assert default["not_found"]
            documents = (await client.call_tool("list_documents", {"collection": "beta"})).structured_content
            assert [d["source"] for d in documents["documents"]] == ["lighthouse.txt"]
            unknown = await client.call_tool("search", {"query": "tide", "collection": "nope"})
            assert unknown.is_error and "no collection 'nope'" in unknown.content[0].text
            uris = [str(resource.uri) for resource in (await client.list_resources()).resources]
            beta_uri = next(uri for uri in uris if uri.endswith("?collection=beta"))
            assert LIGHTHOUSE in (await client.read_resource(beta_uri)).contents[0].text
    finally:
        pool.close()


def test_the_openai_api_models_are_the_collections(root: Path, hash_embeddings: HashEmbeddings) -> None:
    engine = Engine(settings(root), embeddings=hash_embeddings)
    try:
        with running(create_app(settings(root), engine)) as url:
            api = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
            assert [model.id for model in api.models.list().data] == ["default", "beta"]
            asked = {"role": "user", "content": QUESTION}
            beta = api.chat.completions.create(model="beta", messages=[asked])
            assert "Mara Veltin" in (beta.choices[0].message.content or "") and beta.model == "beta"
            assert {citation["collection"] for citation in beta.model_extra["citations"]} == {"beta"}
            default = api.chat.completions.create(model="qa", messages=[asked])
            assert default.model_extra["answer"]["not_found"]
            with pytest.raises(openai.NotFoundError):
                api.chat.completions.create(model="gamma", messages=[asked])
    finally:
        engine.close()
