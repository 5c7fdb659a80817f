"""The store and the command line attacked the way issue 10 found they could be: audit rows
replaced or rewritten, a world-readable database, a token revoked by guessing, escape
sequences in tables, tracebacks and the findings exit code for internal errors.  Each test
failed on the code before the fix.  Store tests run on SQLite and, when
ENTITYSCAN_TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from _store_support import BACKENDS, import_doc, make_url, scan_doc
from _store_support import hik as hikvision
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from entityscan.cli import main
from entityscan.model import LineItem
from entityscan.operations import screen_line_items
from entityscan.screening import ScreeningContext
from entityscan.store import Store


@pytest.fixture(scope="module")
def ctx() -> ScreeningContext:
    return ScreeningContext.load()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_url(request.param, tmp_path)


def fill(store: Store, ctx: ScreeningContext, batches: int = 4) -> list[int]:
    ids = []
    for n in range(batches):
        done = screen_line_items([LineItem(id=f"PO-{n}", brand="EZVIZ")], ctx, store,
                                 actor="token:erp#1", source="test")
        assert done.audit_id is not None
        ids.append(done.audit_id)
    return ids


# ----- item 7: the append-only audit log could be rewritten -----

def test_insert_or_replace_cannot_rewrite_an_audit_entry(url: str,
                                                         ctx: ScreeningContext) -> None:
    with Store(url) as store:
        first = fill(store, ctx, 1)[0]
        replace = ("INSERT OR REPLACE INTO audit_log (id, at, actor, action, "
                   "lists_content_hash, inputs, result) VALUES (:id, '2026-01-01', 'forger', "
                   "'screen', '', '{}', '{}')" if store.engine.dialect.name == "sqlite" else
                   "INSERT INTO audit_log (id, at, actor, action, lists_content_hash, inputs, "
                   "result) VALUES (:id, now(), 'forger', 'screen', '', '{}', '{}') ON CONFLICT "
                   "(id) DO UPDATE SET actor = EXCLUDED.actor, inputs = EXCLUDED.inputs")
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(replace), {"id": first})
        entry = store.audit.entry(first)
        assert entry is not None and entry["actor"] == "token:erp#1"
        assert store.audit.verify().intact


def test_a_row_rewritten_behind_the_triggers_is_named(url: str, ctx: ScreeningContext,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    with Store(url) as store:
        ids = fill(store, ctx)
        report = store.audit.verify()
        assert report.intact and report.entries == 4 and report.head_id == ids[-1]
        with store.engine.begin() as conn:  # someone with the database's keys
            if store.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            else:
                conn.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
            conn.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE id = :id"),
                         {"id": ids[2]})
        broken = store.audit.verify()
    assert not broken.intact and broken.broken_id == ids[2]
    assert "content does not match its hash" in (broken.problem or "")
    assert main(["audit", "verify", "--db", url]) == 1
    assert f"BROKEN at entry {ids[2]}" in " ".join(capsys.readouterr().err.split())


def test_a_removed_row_breaks_the_link_of_the_next(tmp_path: Path,
                                                   ctx: ScreeningContext) -> None:
    with Store(f"sqlite:///{tmp_path / 'gap.db'}") as store:
        ids = fill(store, ctx)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
            conn.execute(text("DELETE FROM findings WHERE audit_id = :id"), {"id": ids[1]})
            conn.execute(text("DELETE FROM webhook_outbox WHERE audit_id = :id"), {"id": ids[1]})
            conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
        report = store.audit.verify()
    assert report.broken_id == ids[2] and "does not link" in (report.problem or "")


def test_audit_verify_on_an_intact_log(tmp_path: Path, ctx: ScreeningContext,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    with Store(url) as store:
        fill(store, ctx, 3)
    assert main(["audit", "verify", "--db", url, "-f", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["intact"] and report["entries"] == 3 and len(report["head_hash"]) == 64


# ----- item 8: the store was created world-readable -----

def test_the_store_its_wal_and_its_folder_are_private(tmp_path: Path,
                                                      ctx: ScreeningContext) -> None:
    folder = tmp_path / "fresh" / "data"
    db = folder / "entityscan.db"
    with Store(f"sqlite:///{db}") as store:
        import_doc(scan_doc([hikvision("44:19:b6:61:10:01", "127.61.3.1")], ctx), ctx, store)
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in files if p.exists()}
    assert modes[db.name] == 0o600 and len(modes) == 3
    assert set(modes.values()) == {0o600}, modes
    for path in (folder, folder.parent):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


# ----- item 8: tokens revoked by guessing, raw escapes in tables -----

def test_tokens_revoke_never_guesses_between_an_id_and_a_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 't.db'}"
    assert main(["tokens", "add", "erp", "--db", db]) == 0   # id 1
    assert main(["tokens", "add", "1", "--db", db]) == 0     # id 2, named "1"
    capsys.readouterr()
    assert main(["tokens", "revoke", "1", "--db", db]) == 2
    assert "--id 1" in capsys.readouterr().err
    assert main(["tokens", "revoke", "--name", "1", "--db", db]) == 0
    assert main(["tokens", "list", "--db", db, "-f", "json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed["erp"]["revoked_at"] is None and listed["1"]["revoked_at"] is not None
    assert main(["tokens", "revoke", "--id", "1", "--name", "erp", "--db", db]) == 2


def test_token_list_shows_scopes_and_escapes_control_characters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table row per token
    db = f"sqlite:///{tmp_path / 'e.db'}"
    with Store(db) as store:
        store.tokens.add("erp", ["screen", "read"])
        with store.engine.begin() as conn:  # a token from before scopes, named by an attacker
            conn.execute(text("INSERT INTO api_tokens (name, token_hash, prefix, created_at) "
                              "VALUES (:n, 'sha256:x', 'es_old', '2026-01-01 00:00:00')"),
                         {"n": "evil\x1b]0;owned\x07\x1b[2J\u202egpj.exe"})
    assert main(["tokens", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "\x1b]0" not in out and "\x1b[2J" not in out and "\u202e" not in out
    assert "\\x1b]0;owned\\x07" in out and "\\u202e" in out
    assert "read, screen" in out and "all (made before scopes)" in out
    assert main(["tokens", "add", "bad\nname", "--db", db]) == 2


# ----- item 8 and 6: one clear line, never a traceback, never the findings code -----

@pytest.mark.parametrize(("db", "message"), [
    ("postgresql://u:pw@h:notaport/db", "not a database URL"),
    ("postgresql+asyncpg://u:hunter2@127.61.0.1/db", "driver is not installed (asyncpg)"),
    ("postgresql+nosuchdriver://u:pw@127.61.0.1/db", "unknown database driver"),
    ("sqlite:///", "in-memory SQLite store keeps nothing"),
])
def test_a_bad_db_url_is_one_clear_line(db: str, message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "scans", "--db", db]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert "hunter2" not in err and len(err.strip().splitlines()) <= 2


def test_an_internal_error_exits_3_in_one_line(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import entityscan.commands.inventory as inventory_command

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("division by zero in a bug")

    monkeypatch.setattr(inventory_command, "diff_scans", broken)
    assert main(["diff", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "ZeroDivisionError" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


# ----- item 3, the command line: `store import` believed the document too -----

def test_store_import_attributes_again_from_the_evidence(
        tmp_path: Path, ctx: ScreeningContext, capsys: pytest.CaptureFixture[str]) -> None:
    doc = scan_doc([hikvision("44:19:b6:61:20:01", "127.61.3.2")], ctx)
    doc["devices"][0].update({"maker": "Axis", "attributed_maker": "Axis", "platform": "Axis",
                              "verdict": "clear", "score": 0.0, "brand": "Axis",
                              "model": None, "firmware": None, "serial": None})
    path = tmp_path / "site.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'i.db'}"
    assert main(["store", "import", str(path), "--db", db, "-f", "json"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert report["summary"]["flagged"] == 1
    doc["finished"] = "9999-01-01T00:00:00Z"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["store", "import", str(path), "--db", db]) == 2
    assert "field `finished`" in capsys.readouterr().err
