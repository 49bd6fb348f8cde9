"""Our scanner next to picklescan and modelscan on the committed corpus.

Each tool's verdict per sample is `unsafe`, `clean` or `unsupported` (the tool did not
look at the file). The table is printed (`pytest -s` shows it); the test fails when a tool
that did look at a sample disagrees with ours, or when the corpus no longer matches the
script that builds it.
"""

import json
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import ROOT, palisade_binary

CORPUS = ROOT / "tests" / "fixtures" / "scan-corpus"
VENV_BIN = pathlib.Path(sys.executable).parent


def samples():
    return sorted(json.loads((CORPUS / "expected.json").read_text()))


def ours(path):
    out = subprocess.run(
        [palisade_binary(), "models", "scan", str(path), "--format", "json"],
        capture_output=True, text=True,
    )
    assert out.returncode in (0, 1), out.stderr
    return "unsafe" if out.returncode == 1 else "clean"


def picklescan(path):
    out = subprocess.run([str(VENV_BIN / "picklescan"), "--path", str(path)], capture_output=True, text=True)
    scanned = re.search(r"Scanned files: (\d+)", out.stdout)
    if out.returncode == 1:
        return "unsafe"
    if "could not parse" in out.stdout + out.stderr:
        return "unsupported"  # not a pickle to picklescan: it looked, but judged nothing
    if out.returncode == 0 and scanned and int(scanned.group(1)) > 0:
        return "clean"
    return "unsupported"


def modelscan(path):
    out = subprocess.run([str(VENV_BIN / "modelscan"), "-p", str(path)], capture_output=True, text=True)
    return {0: "clean", 1: "unsafe"}.get(out.returncode, "unsupported")


def test_corpus_matches_its_script(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_scan_corpus.py"), str(tmp_path)], check=True)
    for name in samples():
        fresh = ours(tmp_path / name)
        committed = ours(CORPUS / name)
        assert fresh == committed, f"{name}: regenerated sample judged {fresh}, committed {committed}"


def test_disagreements_with_picklescan_and_modelscan():
    rows, disagreements = [], []
    for name in samples():
        path = CORPUS / name
        verdicts = {"palisade": ours(path), "picklescan": picklescan(path), "modelscan": modelscan(path)}
        rows.append((name, verdicts))
        for tool in ("picklescan", "modelscan"):
            if verdicts[tool] != "unsupported" and verdicts[tool] != verdicts["palisade"]:
                disagreements.append(f"{name}: {tool} says {verdicts[tool]}, palisade {verdicts['palisade']}")
    width = max(len(n) for n, _ in rows)
    print(f"\n{'sample':<{width}}  palisade  picklescan   modelscan")
    for name, v in rows:
        print(f"{name:<{width}}  {v['palisade']:<8}  {v['picklescan']:<11}  {v['modelscan']}")
    covered = {t: sum(v[t] != "unsupported" for _, v in rows) for t in ("picklescan", "modelscan")}
    print(f"samples each tool judged: palisade {len(rows)}, picklescan {covered['picklescan']}, modelscan {covered['modelscan']}")
    assert not disagreements, "\n".join(disagreements)
