"""Every hook in plugin/hookspecs.py, the plugin manager, and the README's worked example."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from entityscan import hookspecs
from entityscan.cli import main
from entityscan.hooks import (
    PluginError,
    hookimpl,
    make_plugin_manager,
    notify_findings,
    notify_inventory_changed,
    notify_scan_completed,
    signature_dirs,
    signatures,
)
from entityscan.hooktypes import AddedMatch, Amendment, FindingEvent, Settings
from entityscan.lists import ListSet, ListSource
from entityscan.matcher import PartPattern
from entityscan.model import LineItem, ListEntry, Match, Verdict
from entityscan.scanners.inventory import Device, Inventory
from entityscan.screening import ScreeningContext, screen_inventory, screen_items

ROOT = Path(__file__).resolve().parent.parent
NO_EP = Settings(load_entrypoints=False)


def ctx_with(*plugins: object, settings: Settings = NO_EP) -> ScreeningContext:
    return ScreeningContext.load(hooks=make_plugin_manager(settings, plugins))


def test_every_hookspec_is_documented() -> None:
    specs = [name for name in dir(hookspecs) if name.startswith("entityscan_")]
    assert len(specs) >= 9
    for name in specs:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "Called:" in doc and "Returns:" in doc, name


def test_builtins_are_default_plugins_and_match_the_plain_library() -> None:
    pm = make_plugin_manager(NO_EP)
    names = {p.name: p for p in pm.describe()}
    assert set(names) == {"builtin.lists", "builtin.relations", "builtin.patterns",
                          "builtin.webhook"}
    assert "entityscan_findings" in names["builtin.webhook"].hooks
    plain, hooked = ScreeningContext.load(), ScreeningContext.load(hooks=pm)
    assert hooked.lists.content_hash == plain.lists.content_hash
    assert len(hooked.relations) == len(plain.relations)
    item = LineItem(id="1", brand="EZVIZ")
    assert screen_items([item], hooked)[0].verdict is screen_items([item], plain)[0].verdict


def _entry(name: str) -> ListEntry:
    return ListEntry(id=f"inhouse:{name.lower()}", list="INHOUSE", list_name="In-house deny list",
                     name=name, citation="policy 7.2")


def _inhouse_lists() -> ListSet:
    return ListSet([_entry("Zephyr Optics Ltd")],
                   [ListSource(name="inhouse", location="memory", count=1,
                               content_hash="sha256:inhouse")])


class ListPlugin:
    @hookimpl
    def entityscan_list_sources(self, settings: Settings) -> ListSet:
        return _inhouse_lists()


class SameListAgain(ListPlugin):
    pass


def test_list_sources_are_merged_and_deduplicated() -> None:
    ctx = ctx_with(ListPlugin(), SameListAgain())
    assert sum(1 for e in ctx.lists.entries if e.list == "INHOUSE") == 1
    finding = screen_items([LineItem(id="a", supplier="Zephyr Optics Ltd")], ctx)[0]
    assert finding.verdict is Verdict.FLAGGED
    assert finding.matches[0].list == "INHOUSE"
    assert ctx.lists.content_hash != ScreeningContext.load().lists.content_hash


def test_no_list_source_at_all_is_an_error() -> None:
    settings = Settings(load_entrypoints=False, disabled=frozenset({"builtin.lists"}))
    with pytest.raises(PluginError, match="no list sources"):
        ScreeningContext.load(hooks=make_plugin_manager(settings))
    # with the built-in disabled, a plugin's list alone is used
    ctx = ctx_with(ListPlugin(), settings=settings)
    assert {e.list for e in ctx.lists.entries} == {"INHOUSE"}


class PatternPlugin:
    @hookimpl
    def entityscan_patterns(self, settings: Settings) -> list[PartPattern]:
        return [PartPattern(id="inhouse-dh-oem", maker="Dahua", pattern=r"NOP-\d{4}[A-Z]?",
                            certainty="solid", description="NightOwl Pro OEM part numbers",
                            trigger="NOP-",
                            source="in-house teardown", examples=("NOP-2210B",))]


def test_patterns_hook_adds_a_part_number_signature() -> None:
    item = LineItem(id="p", part_number="NOP-2210B")
    assert screen_items([item], ScreeningContext.load())[0].verdict is Verdict.CLEAR
    finding = screen_items([item], ctx_with(PatternPlugin()))[0]
    assert finding.verdict is Verdict.FLAGGED and finding.maker == "Dahua"
    assert finding.matches[0].via == "part-number"


class SignaturePlugin:
    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    @hookimpl
    def entityscan_signature_dirs(self, settings: Settings) -> list[Path]:
        return self.paths


IN_HOUSE_RULE = """rules:
  - id: inhouse-acmecam-webs
    pattern: '^AcmeCam-Webs$'
    indicates: Hikvision
    kind: platform
    certainty: medium
    description: In-house finding, AcmeCam relabels run the Hikvision web stack.
    source: "in-house teardown PR-2291"
    examples:
      - value: AcmeCam-Webs
"""


def test_signature_dirs_extend_the_scanner_rules(tmp_path: Path) -> None:
    from entityscan.scanners.signatures.engine import RULES_DIR, SignatureError

    bundled = (RULES_DIR / "http_server.yaml").read_text(encoding="utf-8")
    (tmp_path / "http_server.yaml").write_text(
        bundled.replace("rules:\n", IN_HOUSE_RULE, 1), encoding="utf-8")
    pm = make_plugin_manager(NO_EP, [SignaturePlugin([tmp_path]), SignaturePlugin([tmp_path])])
    assert signature_dirs(pm) == [tmp_path.resolve()]
    rules = signatures(pm)
    (evidence,) = rules.evaluate("http_server", "AcmeCam-Webs", probe="http", field="Server")
    assert evidence.indicates == "Hikvision" and evidence.rule == "http_server/inhouse-acmecam-webs"
    assert rules.evaluate("http_server", "DNVRS-Webs", probe="http", field="Server")
    assert "sadp" in rules.kinds()  # the other bundled kinds stay
    (tmp_path / "http_server.yaml").write_text("kind: http_server\nrules: [{id: x}]\n")
    with pytest.raises(SignatureError, match=r"http_server\.yaml"):
        signatures(pm)


def _match(value: str) -> Match:
    return Match(entity="Secret Vendor", entry_id="inhouse:secret", list="INHOUSE",
                 list_name="In-house deny list", via="plugin", field="supplier", value=value,
                 score=95.0)


class FlagSupplier:
    @hookimpl
    def entityscan_screen_item(self, item: LineItem, finding, settings) -> Amendment | None:
        if item.supplier == "Shady Resale":
            return Amendment(add=(AddedMatch(match=_match(item.supplier), verdict=Verdict.FLAGGED,
                                             maker="Hikvision"),),
                             reason="supplier on our internal watch list")
        return None


class CapAtReview:
    @hookimpl
    def entityscan_screen_item(self, item: LineItem, finding, settings) -> Amendment | None:
        if item.id.startswith("lab-"):
            return Amendment(cap=Verdict.REVIEW, reason="research lab exemption")
        return None


def test_screen_item_add_and_cap_semantics_independent_of_order() -> None:
    items = [LineItem(id="x", supplier="Shady Resale"),
             LineItem(id="lab-1", supplier="Shady Resale"),
             LineItem(id="lab-2", brand="EZVIZ"),
             LineItem(id="ok", supplier="Dell")]
    for plugins in ((FlagSupplier(), CapAtReview()), (CapAtReview(), FlagSupplier())):
        added, capped_added, capped, clear = screen_items(items, ctx_with(*plugins))
        assert added.verdict is Verdict.FLAGGED and added.maker == "Hikvision"
        assert added.matches[-1].via == "plugin"
        assert any("FlagSupplier" in r and "watch list" in r for r in added.reasons)
        assert capped_added.verdict is Verdict.REVIEW  # the veto wins over the addition
        assert capped.verdict is Verdict.REVIEW and capped.matches  # vetoed matches stay
        assert "lowered the verdict from flagged to review" in capped.reasons[0]
        assert clear.verdict is Verdict.CLEAR and len(clear.reasons) == 1


class Veto:
    @hookimpl
    def entityscan_screen_device(self, device: Device, finding, settings) -> Amendment | None:
        if device.serial == "LAB-0001":
            return Amendment(cap=Verdict.CLEAR, reason="isolated test bench, approved")
        return None


def test_screen_device_veto() -> None:
    devices = [Device(serial=serial, brand="EZVIZ", maker="Hikvision", confidence=0.95,
                      reasons=["SADP answered"]) for serial in ("LAB-0001", "X")]
    lab, other = screen_inventory(Inventory(devices=devices), ctx_with(Veto()))
    assert lab.verdict is Verdict.CLEAR and "isolated test bench" in lab.reasons[0]
    assert other.verdict is Verdict.FLAGGED


class WrongType:
    @hookimpl
    def entityscan_screen_item(self, item, finding, settings):
        return "block it"


def test_a_wrong_return_type_names_the_plugin() -> None:
    with pytest.raises(PluginError, match=r"WrongType.*expected Amendment"):
        screen_items([LineItem(id="1")], ctx_with(WrongType()))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @hookimpl
    def entityscan_findings(self, events, context, settings) -> None:
        self.calls.append(("findings", (list(events), context)))

    @hookimpl
    def entityscan_scan_completed(self, scan_id, document, settings) -> None:
        self.calls.append(("scan", (scan_id, document)))

    @hookimpl
    def entityscan_inventory_changed(self, diff, settings) -> None:
        self.calls.append(("changed", diff))


class Broken:
    @hookimpl
    def entityscan_findings(self, events, context, settings) -> None:
        raise RuntimeError("ticket system down")


def test_reaction_hooks_run_and_a_broken_one_does_not_stop_others(
        caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    pm = make_plugin_manager(NO_EP, [recorder, Broken()])
    ctx = ScreeningContext.load(hooks=pm)
    finding = screen_items([LineItem(id="1", brand="EZVIZ")], ctx)[0]
    event = FindingEvent(finding=finding, decision="block", audit_id=7)
    with caplog.at_level(logging.ERROR, logger="entityscan.hooks"):
        errors = notify_findings(pm, [event], {"source": "test"})
    assert errors and "Broken" in errors[0] and "ticket system down" in caplog.text
    assert recorder.calls[0][0] == "findings"
    assert notify_findings(pm, [], {}) == []  # nothing to react to: not called
    notify_scan_completed(pm, 3, {"schema": "entityscan.scan/1"})
    notify_inventory_changed(pm, {"reason": "scan", "newly_flagged": []})
    assert [c[0] for c in recorder.calls] == ["findings", "scan", "changed"]


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- example:plugin -->\s*```python\n(.*?)```", text, re.S)
    assert found, "README lost its worked plugin example"
    return found.group(1)


@pytest.fixture()
def readme_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    (tmp_path / "hold_po.py").write_text(_readme_example(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("hold_po", None)
    import hold_po  # type: ignore[import-not-found]

    return hold_po


@pytest.mark.usefixtures("readme_plugin")
def test_readme_worked_example(tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    held = tmp_path / "held.jsonl"
    orders = tmp_path / "orders.csv"
    orders.write_text("id,supplier,brand\n"
                      "L1,CDW,NightOwl Pro\n"
                      "L2,Acme Recyclers,EZVIZ\n"
                      "L3,CDW,Bosch\n", encoding="utf-8")
    monkeypatch.setenv("ENTITYSCAN_PLUGINS", "hold_po")
    monkeypatch.setenv("ENTITYSCAN_OPT_HOLD_FILE", str(held))
    out = tmp_path / "out.json"
    assert main(["screen", str(orders), "--format", "json", "-o", str(out)]) == 1
    results = {r["id"]: r for r in json.loads(out.read_text())["results"]}
    assert results["L1"]["verdict"] == "flagged" and results["L1"]["maker"] == "Dahua"
    assert results["L1"]["matches"][0]["via"] == "brand-relation"
    assert results["L2"]["verdict"] == "review"
    assert any("Acme Recyclers" in r for r in results["L2"]["reasons"])
    assert results["L3"]["verdict"] == "clear"
    lines = [json.loads(x) for x in held.read_text().splitlines()]
    assert [x["line"] for x in lines] == ["L1"]


@pytest.mark.usefixtures("readme_plugin")
def test_plugins_command_shows_module_origin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--plugin", "hold_po", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["hold_po"]["origin"].startswith("module ")
    assert set(rows["hold_po"]["hooks"]) == {"entityscan_relations", "entityscan_screen_item",
                                             "entityscan_findings"}
    assert rows["builtin.webhook"]["origin"].startswith("built-in")


def test_entry_point_plugin_is_discovered(tmp_path: Path) -> None:
    """A real installed distribution (dist-info on sys.path) exposing group `entityscan`."""
    (tmp_path / "acme_entityscan.py").write_text(textwrap.dedent("""
        from entityscan.hooks import hookimpl
        from entityscan.model import Relation

        @hookimpl
        def entityscan_relations(settings):
            return [Relation(brand="Acme Eye", maker="Hikvision", kind="oem-relabel",
                             certainty="solid", source="test")]
    """), encoding="utf-8")
    info = tmp_path / "acme_entityscan-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-entityscan\n"
                                   "Version: 1.2\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[entityscan]\nacme = acme_entityscan\n",
                                           encoding="utf-8")
    env = {**__import__("os").environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"}
    run = subprocess.run([sys.executable, "-m", "entityscan", "plugins", "--format", "json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    rows = {r["name"]: r for r in json.loads(run.stdout)}
    assert rows["acme"]["origin"] == "entry point acme_entityscan from acme-entityscan 1.2"
    items = tmp_path / "i.csv"
    items.write_text("id,brand\n1,Acme Eye\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "entityscan", "screen", str(items), "-f", "json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["results"][0]["maker"] == "Hikvision"


def test_bad_plugin_module_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match="no_such_plugin_mod"):
        make_plugin_manager(Settings(load_entrypoints=False,
                                     plugin_modules=("no_such_plugin_mod",)))
    assert main(["plugins", "--plugin", "no_such_plugin_mod"]) == 2


def test_settings_come_from_the_environment_not_globals() -> None:
    env = {"ENTITYSCAN_PLUGINS": "a, b", "ENTITYSCAN_OPT_HOLD_FILE": "/x",
           "ENTITYSCAN_WEBHOOK_SECRET": "s3cret", "ENTITYSCAN_DISABLE_PLUGINS": "builtin.webhook"}
    settings = Settings.from_env(env)
    assert settings.plugin_modules == ("a", "b") and settings.options == {"hold_file": "/x"}
    assert "s3cret" not in repr(settings)
    assert settings.disabled == {"builtin.webhook"}
    pm = make_plugin_manager(Settings.from_env({**env, "ENTITYSCAN_PLUGINS": ""},
                                               load_entrypoints=False))
    assert "builtin.webhook" not in {p.name for p in pm.describe()}


def test_pattern_files_can_replace_a_bundled_rule_with_plugins_on(tmp_path: Path) -> None:
    import yaml

    from entityscan.matcher import load_patterns

    first = next(p for p in load_patterns() if p.examples and p.maker == "Hikvision")
    replaced = {**first.model_dump(mode="json"), "maker": "Dahua"}
    override = tmp_path / "patterns.yaml"
    override.write_text(yaml.safe_dump({"patterns": [replaced]}), encoding="utf-8")
    item = LineItem(id="1", part_number=first.examples[0])
    plain = ScreeningContext.load(hooks=make_plugin_manager(NO_EP))
    assert screen_items([item], plain)[0].maker == "Hikvision"
    ctx = ScreeningContext.load(pattern_paths=[override], hooks=make_plugin_manager(NO_EP))
    assert screen_items([item], ctx)[0].maker == "Dahua"


class DropVetoes:
    """A hook wrapper: it sees the other plugins' amendments and removes every veto."""

    @hookimpl(wrapper=True)
    def entityscan_screen_item(self, item, finding, settings):
        amendments = yield
        return [a for a in amendments if a.cap is None]


def test_hooks_go_through_pluggy_so_wrappers_apply() -> None:
    item = LineItem(id="lab-9", supplier="Shady Resale")
    assert screen_items([item], ctx_with(FlagSupplier(), CapAtReview()))[0].verdict \
        is Verdict.REVIEW
    wrapped = screen_items([item], ctx_with(FlagSupplier(), CapAtReview(), DropVetoes()))[0]
    assert wrapped.verdict is Verdict.FLAGGED
    assert not any("research lab exemption" in r for r in wrapped.reasons)


class Impostor:
    @hookimpl
    def entityscan_screen_item(self, item, finding, settings) -> Amendment:
        return Amendment(cap=Verdict.CLEAR, reason="trust me", plugin="builtin.relations")


def test_an_amendment_names_the_plugin_that_made_it_whatever_it_claims() -> None:
    (finding,) = screen_items([LineItem(id="1", brand="EZVIZ")], ctx_with(Impostor()))
    assert finding.verdict is Verdict.CLEAR
    assert finding.reasons[0] == ("plugin Impostor lowered the verdict from flagged to clear: "
                                  "trust me")


class Exploding:
    @hookimpl
    def entityscan_screen_device(self, device, finding, settings) -> None:
        raise KeyError("serial")


def test_a_screening_hook_that_raises_stops_the_run_naming_the_plugin() -> None:
    with pytest.raises(PluginError, match=r"plugin 'Exploding' failed in "
                                          r"entityscan_screen_device: KeyError"):
        screen_inventory(Inventory(devices=[Device(serial="X")]), ctx_with(Exploding()))


def test_trace_logs_every_call_with_its_plugin_and_duration(
        caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(load_entrypoints=False, trace_plugins=True)
    with caplog.at_level(logging.INFO, logger="entityscan.plugins"):
        ctx = ctx_with(CapAtReview(), settings=settings)
        screen_items([LineItem(id="lab-1", brand="EZVIZ")], ctx)
    lines = caplog.messages
    assert any(re.fullmatch(r"entityscan_relations <- builtin\.relations: \d+\.\d{3} ms", m)
               for m in lines)
    assert any(re.fullmatch(r"entityscan_screen_item <- CapAtReview: \d+\.\d{3} ms", m)
               for m in lines)
    assert any(re.fullmatch(r"entityscan_screen_item: \d+\.\d{3} ms in all \(CapAtReview\)", m)
               for m in lines)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="entityscan.plugins"):
        screen_items([LineItem(id="lab-1")], ctx_with(CapAtReview()))
    assert caplog.messages == []  # off unless asked for


def test_trace_reaches_stderr_from_the_command_line(tmp_path: Path) -> None:
    items = tmp_path / "i.csv"
    items.write_text("id,brand\n1,EZVIZ\n", encoding="utf-8")
    # a fresh data dir: a warm index cache would skip the data hooks this trace shows
    env = {**__import__("os").environ, "ENTITYSCAN_TRACE_PLUGINS": "1",
           "ENTITYSCAN_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-m", "entityscan", "screen", str(items), "-f", "json"],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1, run.stderr
    assert "entityscan: trace: entityscan_list_sources <- builtin.lists:" in run.stderr
    assert json.loads(run.stdout)["results"][0]["verdict"] == "flagged"
