"""The attribute miner (traps, dev-set floor, speed sanity), `mals attrs` on tables and in a run."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mals_gen.attrs import miner as miner_mod
from mals_gen.attrs.miner import mine_attributes, mine_many
from mals_gen.attrs.stage import AttrsConfig, agreement, run_attrs
from mals_gen.attrs.table import label_file
from mals_gen.contract import ATTR, MALS_ATTRIBUTE_NAMES
from mals_gen.errors import UserError

from ._run_fixtures import write_run

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "tests" / "data" / "attrs_dev" / "dev.jsonl"
UPPER = ("black", "white", "red", "purple", "yellow", "blue", "green", "gray")
LOWER = ("black", "white", "purple", "yellow", "blue", "green", "pink", "gray", "brown")


def labels(text: str) -> dict[str, int]:
    return {n: int(v) for n, v in zip(MALS_ATTRIBUTE_NAMES, mine_attributes(text))}


def only_colours(lab: dict, group: str, present: set[str], unknown: set[str] = frozenset()) -> None:
    for c in UPPER if group == "upper" else LOWER:
        want = 0 if c in present else (-1 if c in unknown else 1)
        assert lab[f"{group}_{c}"] == want, (group, c, lab[f"{group}_{c}"])


# --- traps ------------------------------------------------------------------------------------
def test_colour_bound_to_the_right_garment_and_exclusion():
    lab = labels("A man wearing a red shirt and blue jeans.")
    only_colours(lab, "upper", {"red"})
    only_colours(lab, "lower", {"blue"})
    assert lab["gender"] == 1 and lab["lower_type"] == 1 and lab["lower_length"] == 0


def test_multi_colour_phrase_and_backward_binding():
    only_colours(labels("a red and white striped shirt and black pants"), "upper", {"red", "white"})
    lab = labels("His shirt is red and his pants are black.")
    only_colours(lab, "upper", {"red"})
    only_colours(lab, "lower", {"black"})
    lab = labels("She wears a shirt that is green.")
    assert lab["upper_green"] == 0 and lab["gender"] == 0


def test_shoe_hair_and_bag_colours_are_not_clothes():
    lab = labels("A man with black hair, gray pants, white shoes and a red backpack.")
    only_colours(lab, "lower", {"gray"})
    assert lab["upper_red"] == -1 and lab["upper_black"] == -1 and lab["backpack"] == 0


def test_implications_and_explicit_override():
    assert labels("a woman in a t-shirt and jeans")["sleeve"] == 1
    lab = labels("a man in a jacket and shorts")
    assert (lab["sleeve"], lab["lower_length"], lab["lower_type"]) == (0, 1, 1)
    assert labels("a long sleeved t-shirt")["sleeve"] == 0
    lab = labels("a girl in a short skirt")
    assert (lab["lower_type"], lab["lower_length"]) == (0, 1)
    assert labels("a skirt")["lower_length"] == -1
    assert labels("a white t-shirt under a black jacket")["sleeve"] == -1  # implied conflict


def test_negation_scope():
    lab = labels("A woman without a hat, carrying a black handbag.")
    assert (lab["hat"], lab["handbag"]) == (1, 0)
    lab = labels("He is not carrying a bag and wears a cap.")
    assert (lab["bag"], lab["hat"]) == (1, 0)
    lab = labels("no hat or backpack, a red shirt")
    assert (lab["hat"], lab["backpack"], lab["upper_red"]) == (1, 1, 0)
    assert labels("a man with no sleeves")["sleeve"] == 1


def test_pronouns_nouns_and_conflicts():
    assert labels("The person has long hair. She carries a purse.")["gender"] == 0
    assert labels("wearing a hat, his jacket is blue")["gender"] == 1
    assert labels("a man and a woman walking")["gender"] == -1
    lab = labels("a girl in a pink dress")
    assert (lab["gender"], lab["age"]) == (0, -1)  # "girl" names young adults too
    assert labels("a little boy in shorts")["age"] == 0
    assert labels("an elderly man")["age"] == 1


def test_repetitions_do_not_change_labels():
    once = mine_attributes("a woman in a red dress with a backpack on her back")
    twice = mine_attributes("a woman in a red dress and a red dress with a backpack on her back and "
                            "a backpack on her shoulder")
    assert (once == twice).all() and once[ATTR["backpack"]] == 0


def test_colours_outside_the_list():
    lab = labels("a man in a navy jacket and khaki pants")
    only_colours(lab, "upper", {"blue"})
    only_colours(lab, "lower", set(), unknown={"brown", "white", "yellow", "gray"})
    only_colours(labels("a woman in an orange top"), "upper", set(), unknown={"red", "yellow"})


def test_uncertain_garments_block_exclusion():
    lab = labels("a white shirt with a colorful logo and dark pants")
    assert lab["upper_white"] == 0 and lab["upper_red"] == -1
    assert all(lab[f"lower_{c}"] == -1 for c in LOWER)
    lab = labels("a red shirt under a jacket")  # the jacket's colour is unknown
    assert lab["upper_red"] == 0 and lab["upper_black"] == -1


def test_bags_and_dress_outfit():
    lab = labels("a man with a bag on his back")
    assert (lab["backpack"], lab["bag"]) == (0, -1)
    assert labels("a lady holding a purse")["handbag"] == 0
    lab = labels("a woman dressed in black")
    assert lab["upper_black"] == 0 and lab["lower_black"] == 0 and lab["upper_white"] == -1
    assert labels("he is carrying nothing")["backpack"] == 1


def test_silence_and_empty_text():
    assert (mine_attributes("") == -1).all()
    assert (mine_attributes("a photo of a street at night") == -1).all()
    assert mine_many([]).shape == (0, 27)


def test_mine_many_matches_single_and_caches():
    texts = ["a man in a red shirt", "a woman in a blue dress", "a man in a red shirt", None]
    out = mine_many(texts)
    assert out.dtype == np.int8 and out.shape == (4, 27)
    for text, row in zip(texts, out):
        assert (row == mine_attributes(text or "")).all()


def test_dev_set_floor():
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    assert len(rows) >= 300 and {r["style"] for r in rows} == {"cuhk", "icfg", "blip"}
    gold = np.asarray([r["labels"] for r in rows])
    pred = mine_many([r["text"] for r in rows])
    both = (gold >= 0) & (pred >= 0)
    assert (pred[both] == gold[both]).mean() >= 0.95
    assert ((pred >= 0) & (gold < 0)).sum() / max((gold < 0).sum(), 1) < 0.02
    assert both.sum() / (gold >= 0).sum() >= 0.80  # coverage floor


# --- table mode ---------------------------------------------------------------------------------
def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("column", ["caption", "text"])
def test_table_cli_jsonl_to_parquet(tmp_path, column):
    src = tmp_path / "captions.jsonl"
    _write_jsonl(src, [{column: "A man in a red shirt and blue jeans.", "id": 7},
                       {column: "a woman in a white dress", "id": 8}])
    out = tmp_path / "labels.parquet"
    proc = subprocess.run([sys.executable, "-m", "mals_gen", "attrs", "--in", str(src), "--out", str(out),
                           "--no-progress"], check=False, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_parquet(out)
    assert list(frame["id"]) == [7, 8] and frame[column].iloc[0].startswith("A man")
    assert list(frame["mined_attrs"].iloc[0]) == mine_attributes(frame[column].iloc[0]).tolist()
    assert frame["gender"].tolist() == [1, 0] and frame["attr_source"].iloc[0] == f"rules-v1:{column}"
    assert pq.read_schema(out).field("mined_attrs").type.list_size == 27


def test_table_missing_column_is_one_clear_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    _write_jsonl(src, [{"sentence": "a man"}])
    proc = subprocess.run([sys.executable, "-m", "mals_gen", "attrs", "--in", str(src), "--out",
                           str(tmp_path / "o.parquet")], check=False, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "no 'caption' or 'text' column" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_table_csv_and_parquet_roundtrip(tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"caption": ["a man in black shorts", ""], "n": [1, 2]}).to_csv(src, index=False)
    label_file(src, tmp_path / "out.csv", progress=False)
    frame = pd.read_csv(tmp_path / "out.csv")
    assert json.loads(frame["mined_attrs"].iloc[1]) == [-1] * 27 and frame["lower_length"].iloc[0] == 1
    pd.DataFrame({"text": ["a lady with a purse"]}).to_parquet(tmp_path / "in.parquet")
    label_file(tmp_path / "in.parquet", tmp_path / "out.jsonl", progress=False)
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert row["handbag"] == 0 and len(row["mined_attrs"]) == 27
    with pytest.raises(UserError, match="unknown format"):
        label_file(src, tmp_path / "out.xlsx", progress=False)


# --- in-run stage ----------------------------------------------------------------------------------
CAPTIONS = ["a man in a red shirt and blue jeans", "a woman in a white dress with a handbag",
            "", "a boy without a hat wearing a green t-shirt", "a lady in a black coat",
            "a man with a backpack", "a woman in a yellow top and a short skirt"]


def _fixture_run(run: Path) -> None:
    prompt_attrs = mine_many(["a man in a red shirt and black jeans"] * len(CAPTIONS))
    samples = [{"prompt_attrs": a.tolist(), "caption": c} for a, c in zip(prompt_attrs, CAPTIONS, strict=True)]
    write_run(run, samples, part_size=3, stages=("plan", "caption"))


def _read_parts(run: Path) -> list:
    return [pq.read_table(p) for p in sorted((run / "attrs").glob("part-*.parquet"))]


def test_stage_writes_attrs_with_agreement(tmp_path):
    run = tmp_path / "run"
    _fixture_run(run)
    summary = run_attrs(run, AttrsConfig(), progress=False)
    assert summary.parts_done_now == 3
    frame = pd.concat([t.to_pandas() for t in _read_parts(run)])
    assert len(frame) == len(CAPTIONS) and frame["attr_source"].eq("rules-v1:caption").all()
    first = frame.iloc[0]
    assert list(first["mined_attrs"]) == mine_attributes(CAPTIONS[0]).tolist()
    assert 0.0 < first["attr_agreement"] < 1.0  # blue vs black jeans disagree, the rest agree
    assert math.isnan(frame.iloc[2]["attr_agreement"])  # empty caption decides nothing
    stats = json.loads((run / "state" / "attrs" / "stats.json").read_text())
    assert stats["samples"] == len(CAPTIONS) and stats["empty_captions"] == 1
    assert run_attrs(run, AttrsConfig(), progress=False).parts_skipped == 3


def test_stage_echo_none_is_silent_and_echo_gets_the_summary(tmp_path, capsys):
    run = tmp_path / "run"
    _fixture_run(run)
    run_attrs(run, AttrsConfig(), progress=False, echo=None)
    assert capsys.readouterr().out == ""
    lines: list[str] = []
    run_attrs(run, AttrsConfig(), progress=False, echo=lines.append)
    assert len(lines) == 1 and lines[0].startswith("attrs: 0 part(s) done now, 3 already done")
    assert capsys.readouterr().out == ""


def test_agreement_off_reads_no_plan_attrs(tmp_path):
    run = tmp_path / "run"
    _fixture_run(run)
    run_attrs(run, AttrsConfig(agreement=False), progress=False, echo=None)
    frame = pd.concat([t.to_pandas() for t in _read_parts(run)])
    assert len(frame) == len(CAPTIONS) and frame["attr_agreement"].isna().all()


def test_agreement_function():
    a = np.array([[0, 1, -1], [-1, -1, -1]], dtype=np.int8)
    b = np.array([[0, 0, 1], [0, 1, 1]], dtype=np.int8)
    out = agreement(a, b)
    assert out[0] == pytest.approx(0.5) and math.isnan(out[1])


def test_stage_kill_and_resume_equals_uninterrupted(tmp_path, monkeypatch):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    _fixture_run(clean)
    _fixture_run(killed)
    run_attrs(clean, AttrsConfig(), progress=False)

    calls = {"n": 0}
    real = miner_mod.mine_many

    def dying(texts):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed in the middle of the second part
        return real(texts)

    monkeypatch.setattr("mals_gen.attrs.stage.mine_many", dying)
    with pytest.raises(KeyboardInterrupt):
        run_attrs(killed, AttrsConfig(), progress=False)
    (killed / "attrs" / "part-00001.parquet.tmp-99999").write_bytes(b"half a file")
    assert len(list((killed / "state" / "attrs").glob("*.done.json"))) == 1
    monkeypatch.setattr("mals_gen.attrs.stage.mine_many", real)
    summary = run_attrs(killed, AttrsConfig(), progress=False)
    assert (summary.parts_done_now, summary.parts_skipped) == (2, 1)
    assert not list((killed / "attrs").glob("*.tmp-*"))
    for a, b in zip(_read_parts(clean), _read_parts(killed), strict=True):
        floats = ["attr_agreement", "caption_agreement"]
        assert a.drop(floats).equals(b.drop(floats))
        for name in floats:
            np.testing.assert_array_equal(a.column(name).to_numpy(), b.column(name).to_numpy())  # NaN == NaN here
    for name in ("part-00000.parquet", "part-00001.parquet", "part-00002.parquet"):
        assert (clean / "attrs" / name).read_bytes() == (killed / "attrs" / name).read_bytes()


def test_stage_cli_on_run(tmp_path):
    run = tmp_path / "run"
    _fixture_run(run)
    proc = subprocess.run([sys.executable, "-m", "mals_gen", "attrs", str(run), "--rank", "1",
                           "--world-size", "2", "--no-progress"], check=False, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (run / "state" / "attrs").glob("*.done.json")) == ["part-00001.done.json"]
    proc = subprocess.run([sys.executable, "-m", "mals_gen", "attrs", str(tmp_path / "nope")],
                          check=False, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "plan.json" in proc.stderr


# --- the fast path (batch tokenising to codes, phrases joined in the pass) ---------------------
TRICKY = ["A man in a T-Shirt, tee  shirts and a button-up shirt.", "knee high heels and a sun dress shirt",
          "a bag on his back", "a red shirt and t-shirt", "polka-dot dress; baby blue cap sleeves",
          "a woman in a pink dress\u00a0with a hand bag", "Ünïcode caf\u00e9 K\u212a shirt", "on the back pack",
          "button up", "t", "shirt t", "", "cross body bag (black)", "he has on a tank-top"]


def _joined_codes(cc: list[int]) -> list[int]:
    from mals_gen.attrs import codes as C
    cc = list(cc)
    i = 0
    while i < len(cc):  # what the miner's loop does, token by token
        C.resolve(cc, i)
        i += 1
    return cc


def test_batch_codes_equal_the_reference_tokeniser():
    from mals_gen.attrs import codes as C
    from mals_gen.attrs.lexicon import tokenize
    codes = C.batch_codes(TRICKY + DEV_TEXTS[:50])
    start = 0
    for text in TRICKY + DEV_TEXTS[:50]:
        end = codes.index(C.SEP, start) + 1
        want = [C.CODE.get(t, C.UNK) for t in tokenize(text)] + [C.SEP]
        assert _joined_codes(codes[start:end]) == want, text
        assert _joined_codes(C.text_codes(text)) == want, text
        start = end


def test_fast_paths_agree_with_single_captions():
    texts = TRICKY + ["a man in a red shirt\x00 and blue jeans"]  # SEP char inside: per-caption path
    many = mine_many(texts)
    for text, row in zip(texts, many):
        assert (row == mine_attributes(text)).all(), text
    assert (mine_many(TRICKY) == many[:len(TRICKY)]).all()  # the batch path, no SEP char
    lab = labels("a bag on his back")
    assert (lab["backpack"], lab["bag"]) == (0, -1)
    assert labels("a man in a button-up shirt")["upper_red"] == -1  # "button up" is dropped
    assert labels("a woman in a baby blue t-shirt")["upper_blue"] == 0


def test_holdout_floor():
    rows = [json.loads(line) for line in HOLDOUT.read_text().splitlines() if line.strip()]
    gold = np.asarray([r["labels"] for r in rows])
    pred = mine_many([r["text"] for r in rows])
    both = (gold >= 0) & (pred >= 0)
    assert len(rows) >= 30 and (pred[both] == gold[both]).mean() >= 0.95
    assert ((pred >= 0) & (gold < 0)).sum() / max((gold < 0).sum(), 1) < 0.02


HOLDOUT = DEV.parent / "holdout.jsonl"
DEV_TEXTS = [json.loads(line)["text"] for line in DEV.read_text().splitlines() if line.strip()]


def test_fast_finish_equals_reference_labels():
    import random

    from mals_gen.attrs import lexicon as lex
    from mals_gen.attrs.labels import finish, reference_labels
    r = random.Random(0)
    lemmas = [("shirt", lex.UPPER), ("jacket", lex.UPPER), ("pants", lex.LOWER), ("tights", lex.LOWER),
              ("skirt", lex.LOWER), ("dress", lex.DRESS), ("suit", lex.BOTH), ("outfit", lex.BOTH)]
    for _ in range(3000):
        garments = {lemma: [cls, r.choice([0, 0, 1, 2, 5, 1 << r.randrange(20), r.getrandbits(20)]),
                            r.random() < 0.2, lemma == "tights"]
                    for lemma, cls in r.sample(lemmas, r.randrange(4))}
        ex, im, outfit = r.getrandbits(20), r.getrandbits(20) * (r.random() < 0.5), r.choice([0, 0, 1 << r.randrange(20), 3])
        legwear, skirtlike = "tights" in garments and r.random() < 0.7, r.random() < 0.4
        im_ref = im | (0 if not legwear or skirtlike else (1 << (2 * lex.LTYPE + 1)) | (1 << (2 * lex.LLEN)))
        want = bytes(v & 0xFF for v in reference_labels(ex, im_ref, garments, outfit, skirtlike))
        assert finish(ex, im, garments, outfit, legwear, skirtlike) == want, (garments, outfit, skirtlike)


# ---------------------------------------------------------------------------------------------
# Binding errors machine captions showed (issue: caption diversity).

@pytest.mark.parametrize("text", [
    "A man wearing a blue pack, black jacket.",             # bag word after the verb, garment later
    "A woman with a blue sack, black coat and jeans.",
    "He has a blue sling, black hoodie.",
    "A man toting a blue bookbag, black jacket.",
])
def test_a_carried_objects_colour_stays_off_the_upper_garment(text):
    got = labels(text)
    assert got["upper_blue"] != 0 and got["upper_black"] == 0


def test_a_colour_list_still_runs_across_commas():
    got = labels("A man in a red, white and blue jacket.")
    assert got["upper_red"] == got["upper_white"] == got["upper_blue"] == 0


@pytest.mark.parametrize(("text", "present", "unknown"), [
    # sweats are sweatpants: grey lower, not grey upper; the pink stripe is an accent
    ("He wears grey sweats with a pink stripe.", {"lower_gray"}, {"lower_pink", "upper_gray"}),
    ("A man in grey sweatpants with a pink stripe.", {"lower_gray"}, {"lower_pink"}),
    # white stripes on a black jacket: the jacket is black; white is neither its colour nor excluded
    ("A man in a black jacket with white stripes and blue jeans.", {"upper_black", "lower_blue"},
     {"upper_white", "upper_red"}),
])
def test_an_accents_colour_is_not_a_garment_colour(text, present, unknown):
    got = labels(text)
    assert {k for k in present if got[k] == 0} == present
    assert {k: got[k] for k in unknown} == dict.fromkeys(unknown, -1)


def test_stripes_of_an_uncoloured_garment_are_its_colours():
    got = labels("She wears a shirt with red and white stripes.")
    assert got["upper_red"] == got["upper_white"] == 0


def test_several_captions_combine_by_majority_ties_unknown():
    from mals_gen.attrs.combine import combine_groups, combine_labels

    a = np.array([[0, 1, -1, 0], [0, 0, -1, -1], [0, 1, 1, -1]], np.int8)
    out, agree = combine_labels(a)
    assert out.tolist() == [0, 1, 1, 0] and agree == pytest.approx(1 / 2)   # slot 0 unanimous, slot 1 not
    out, agree = combine_labels(a[:2])
    assert out.tolist() == [0, -1, -1, 0] and agree == pytest.approx(1 / 2)
    labels_, agree = combine_groups(a, [2, 0, 1])
    assert labels_[1].tolist() == [-1] * 4 and math.isnan(agree[1]) and math.isnan(agree[2])
