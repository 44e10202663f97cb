"""The stage runner, the config loader and the contract: resume, atomicity, clear errors."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from mals_gen import contract
from mals_gen.config import from_mapping, load_yaml, parse_count, parse_overrides
from mals_gen.errors import UserError
from mals_gen.ranks import Ranks
from mals_gen.runner import run_stage, split_into_parts


def _writer(calls):
    def process(ctx):
        calls.append(ctx.part.index)
        with ctx.output(".txt") as tmp:
            tmp.write_text(f"{ctx.part.start}-{ctx.part.stop}")
        ctx.advance(ctx.part.size)
        return {"samples": ctx.part.size, "kept": ctx.part.size - 1, "dropped": {"odd": 1}}
    return process


def test_parts_cover_the_plan_exactly():
    parts = split_into_parts(1001, 100)
    assert len(parts) == 11 and parts[-1].size == 1 and sum(p.size for p in parts) == 1001


def test_rerun_skips_done_parts_and_redoes_the_rest(tmp_path):
    parts = split_into_parts(50, 10)
    calls: list[int] = []
    run_stage("s", tmp_path, parts, _writer(calls), progress=False)
    assert calls == [0, 1, 2, 3, 4]
    (tmp_path / "state/s/part-00002.done.json").unlink()   # as if killed before the marker
    (tmp_path / "state/s/part-00002.txt.tmp-999").write_text("half")  # leftover of a killed attempt
    calls.clear()
    summary = run_stage("s", tmp_path, parts, _writer(calls), progress=False)
    assert calls == [2] and summary.parts_skipped == 4 and summary.parts_done_now == 1
    assert not list(tmp_path.rglob("*.tmp-*"))
    stats = json.loads((tmp_path / "state/s/stats.json").read_text())
    assert stats["samples"] == 50 and stats["kept"] == 45 and stats["dropped"] == {"odd": 5}


def test_failed_part_leaves_no_marker_and_no_partial_output(tmp_path):
    parts = split_into_parts(30, 10)

    def process(ctx):
        with ctx.output(".txt") as tmp:
            tmp.write_text("partial")
            if ctx.part.index == 1:
                raise RuntimeError("boom")
        return {}

    with pytest.raises(RuntimeError):
        run_stage("s", tmp_path, parts, process, progress=False)
    assert (tmp_path / "state/s/part-00000.done.json").exists()
    assert not (tmp_path / "state/s/part-00001.done.json").exists()
    assert not (tmp_path / "state/s/part-00001.txt").exists()
    assert not list(tmp_path.rglob("*.tmp-*"))


def test_ranks_split_parts_and_requires_waits_for_upstream(tmp_path):
    parts = split_into_parts(40, 10)
    mine: list[int] = []
    run_stage("up", tmp_path, parts[:2], _writer([]), progress=False)
    summary = run_stage("down", tmp_path, parts, _writer(mine), ranks=Ranks(0, 2), requires="up", progress=False)
    assert mine == [0] and summary.parts_waiting == [2]


def test_summary_line_names_counts_and_drops(tmp_path):
    summary = run_stage("s", tmp_path, split_into_parts(20, 10), _writer([]), progress=False)
    line = summary.line()
    assert line.startswith("s: 2 part(s) done now") and "dropped odd 2" in line and "samples/s" in line
    assert "kept 18 of 20" in line and f"output {tmp_path / 's'}" in line


def test_summary_table_shows_results_not_raw_counters():
    from mals_gen.summary import StageSummary

    s = StageSummary("attrs", 4, parts_done_now=2, parts_skipped=0, samples_now=20, seconds=2.0, output="RUN/attrs",
                     totals={"parts_done": 2, "samples": 20, "kept": 18, "dropped": {"blurry": 2},
                             "agreement_sum": 398.4923, "agreement_rows": 500})
    table, line = s.table(width=80), s.line()
    assert "agreement_sum" not in table + line and "398" not in table + line
    assert "mean agreement" in table and "0.797" in table and "mean agreement 0.797" in line
    assert "dropped: blurry" in table and "10.0" in table and "RUN/attrs" in table
    assert max(len(row) for row in table.splitlines()) <= 80 and "\x1b[" not in table
    assert s.render(table=False) == line and s.render(table=True).startswith(line + "\n")


def test_summary_on_several_ranks_labels_this_rank_and_all_ranks():
    from mals_gen.summary import StageSummary

    s = StageSummary("generate", 4, parts_done_now=2, samples_now=2900, seconds=1.0, rank=1, world_size=2,
                     totals={"parts_done": 4, "samples": 5800, "ok": 5800})
    line, table = s.line(), s.table()
    assert line.startswith("generate (rank 1 of 2): 2 part(s) done now") and "all ranks: kept 5800 of 5800" in line
    header = next(row for row in table.splitlines() if "this rank" in row)
    assert "all ranks" in header
    kept = next(row for row in table.splitlines() if row.strip().startswith("kept"))
    assert kept.rstrip().endswith("5800")


@dataclass(frozen=True)
class _Inner:
    steps: int = 1
    ratio: float = 0.5


@dataclass(frozen=True)
class _Cfg:
    name: str = "x"
    n: int = 3
    flag: bool = False
    inner: _Inner = field(default_factory=_Inner)
    sizes: tuple[int, ...] = (1, 2)
    model: str | None = None


def test_config_from_mapping_types_and_unknown_keys():
    cfg = from_mapping(_Cfg, {"n": "10k", "inner": {"steps": 4}, "sizes": [3, 4], "model": None})
    assert cfg.n == 10_000 and cfg.inner.steps == 4 and cfg.sizes == (3, 4) and cfg.model is None
    with pytest.raises(UserError, match="unknown key 'nn'.*known keys"):
        from_mapping(_Cfg, {"nn": 1})
    with pytest.raises(UserError, match=r"cfg.inner.ratio: expected a number"):
        from_mapping(_Cfg, {"inner": {"ratio": "fast"}}, "cfg")
    with pytest.raises(UserError, match="expected true or false"):
        from_mapping(_Cfg, {"flag": "maybe"})


def test_overrides_and_counts():
    assert parse_overrides(["a.b=3", "c=hello", "d=1.5M"]) == {"a": {"b": 3}, "c": "hello", "d": "1.5M"}
    assert parse_count("1.5M") == 1_500_000 and parse_count("10k") == 10_000 and parse_count("2000") == 2000
    with pytest.raises(UserError):
        parse_count("1.5")
    with pytest.raises(UserError, match="expected key=value"):
        parse_overrides(["novalue"])


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("generate:\n  n: 10\n  steps: [1, 2\n")
    with pytest.raises(UserError, match=r"bad.yaml: malformed YAML at line \d+"):
        load_yaml(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")


def test_contract_prompts_match_the_spec_exactly():
    assert len(contract.MALS_PROMPTS) == 54 and contract.NUM_MALS_ATTRIBUTES == 27
    assert contract.MALS_PROMPTS[6] == "the person with a hat"
    assert contract.MALS_PROMPTS[15] == "the person wears short sleeved upper clothes"
    assert contract.MALS_PROMPTS[20] == "the person wears black upper clothes"
    assert contract.MALS_PROMPTS[53] == "the person does not wear brown lower clothes"
    assert len(contract.PA100K_ATTRIBUTE_NAMES) == 26
    assert contract.make_key("s", 12) == "s_000000012"
    assert contract.sanitize_key("CUHK01/0363004.png") == "CUHK01_0363004_png"
    assert contract.is_valid_key(contract.sanitize_key("a.b/c d"))


def test_part_list_is_arithmetic_and_matches_a_materialised_split():
    from mals_gen.ranks import Ranks

    parts = split_into_parts(1001, 100)
    assert len(parts) == 11 and parts[-1] == parts[10] and parts[10].size == 1
    assert [p.start for p in parts] == list(range(0, 1001, 100)) and parts[2:4] == [parts[2], parts[3]]
    assert parts.count_owned(Ranks(1, 4)) == len([p for p in parts if Ranks(1, 4).owns(p.index)]) == 3
    huge = split_into_parts(10**12, 1000)  # a billion parts: nothing is materialised
    assert len(huge) == 10**9 and huge[10**9 - 1].stop == 10**12 and huge.count_owned(Ranks(0, 3)) == 333333334
    assert len(split_into_parts(0, 10)) == 0
