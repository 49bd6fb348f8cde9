"""The conformance zoo: every model in tests/zoo (scikit-learn, XGBoost, LightGBM and CatBoost
exports, with and without ZipMap; see scripts/make_zoo.py) added to the running demo with
`palisade models add --selftest` (vectors from onnxruntime, run at every load) and `models sign`, loaded through the admin plane, served to tritonclient,
and compared with onnxruntime on held-out rows, one row at a time and 256 at once.

Labels (integer and string outputs) must be equal. Float outputs must be within
ATOL + RTOL * |onnxruntime|: trees are bit-identical, but linear algebra sums in a different
order from onnxruntime's BLAS. A model the runtime cannot run must be refused at load, naming
the operator; REFUSED_TODAY would list those (today none).
"""

import json
import os
import pathlib
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import finite_rows, palisade_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "zoo"
INDEX = json.loads((ZOO / "zoo.json").read_text())
ATOL = 1e-5
RTOL = 1e-4
SINGLE_ROWS = 24

# Refused at load today, with the operator the message must name. Empty: every model serves.
REFUSED_TODAY = {}


def en_us_locale():
    """onnxruntime's StringNormalizer needs the en_US.UTF-8 locale; compile it into a private
    folder when the system has not generated it (scripts/test.sh installs its sources)."""
    have = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    if "en_us.utf8" in have or "en_us.utf-8" in have:
        return
    folder = pathlib.Path(tempfile.mkdtemp(prefix="palisade-locale-"))
    made = subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8", str(folder / "en_US.UTF-8")],
                          capture_output=True, text=True)
    if made.returncode != 0:
        # Only the text model's reference needs it; its test then fails naming the locale.
        print(f"could not compile the en_US.UTF-8 locale: {made.stderr.strip()}")
        return
    os.environ["LOCPATH"] = str(folder)


en_us_locale()


def admin_post(server, path):
    ctx = ssl.create_default_context(cafile=server.ca)
    req = urllib.request.Request(
        server.ready["admin_plane"].replace("127.0.0.1", "localhost") + path,
        method="POST",
        headers={"Authorization": f"Bearer {server.token('admin')}"},
        data=b"",
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def v2_json(name, array):
    if array.dtype == object:
        return {"name": name, "datatype": "BYTES", "shape": list(array.shape), "data": [str(v) for v in array.ravel()]}
    datatype = {"f": "FP32" if array.dtype == np.float32 else "FP64", "i": "INT64"}[array.dtype.kind]
    return {"name": name, "datatype": datatype, "shape": list(array.shape),
            "data": [None if isinstance(v, float) and np.isnan(v) else v for v in array.ravel().tolist()]}


def selftest_file(name):
    """Self-test vectors from onnxruntime on the first 8 held-out rows without NaN (JSON has no
    NaN), as an export script would write them."""
    rows = dict(np.load(ZOO / name / "rows.npz", allow_pickle=True))
    finite = np.ones(len(next(iter(rows.values()))), dtype=bool)
    for v in rows.values():
        if v.dtype.kind == "f":
            finite &= ~np.isnan(v.reshape(len(v), -1)).any(axis=1)
    picked = {k: v[finite][:8] for k, v in rows.items()}
    expected = reference(name, picked)
    doc = {"cases": [{"inputs": [v2_json(k, v) for k, v in picked.items()],
                      "outputs": [v2_json(k, v) for k, v in expected.items()]}]}
    path = pathlib.Path(tempfile.mkdtemp(prefix="selftest-")) / "selftest.json"
    path.write_text(json.dumps(doc))
    return path


def add_to_demo(server, name):
    repo = server.state / "models"
    model = f"zoo-{name.replace('_', '-')}"
    run = lambda *args: subprocess.run([palisade_binary(), *args], capture_output=True, text=True, timeout=120)
    added = run("models", "add", str(ZOO / name / "model.onnx"), "--repo", str(repo), "--model", model, "--version", "1",
                "--selftest", str(selftest_file(name)))
    if added.returncode != 0:
        return model, added.stderr
    # The demo's policies refuse inference on a model nobody owns.
    manifest = repo / model / "model.toml"
    manifest.write_text('owner = "zoo@palisade.invalid"\n' + manifest.read_text())
    signed = run("models", "sign", "--key", str(server.state / "keys" / "model-signing.key"), str(repo / model / "1"))
    assert signed.returncode == 0, signed.stderr
    return model, None


def reference(name, feeds):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(ZOO / name / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outs = session.run(None, feeds)
    # ZipMap's list of {class: probability} is served as the [N, classes] tensor it zips.
    return {n: (np.array([[row[k] for k in row] for row in o], dtype=np.float32) if isinstance(o, list) else o)
            for n, o in zip(names, outs)}


def v2_input(name, value):
    if value.dtype == object:
        inp = httpclient.InferInput(name, list(value.shape), "BYTES")
    else:
        inp = httpclient.InferInput(name, list(value.shape), "FP32")
    inp.set_data_from_numpy(value, binary_data=True)
    return inp


def compare(model, got, want):
    for out, expected in want.items():
        have = got.as_numpy(out)
        assert have is not None, f"{model}: no output {out}"
        if expected.dtype == object:
            have = np.array([v.decode() if isinstance(v, bytes) else v for v in have.ravel()], dtype=object)
            assert list(have) == [str(v) for v in expected.ravel()], f"{model}/{out}: labels differ"
            continue
        assert have.shape == expected.shape, f"{model}/{out}: shape {have.shape} vs {expected.shape}"
        if expected.dtype.kind in "iub":
            wrong = np.flatnonzero(have.ravel() != expected.ravel())
            assert wrong.size == 0, f"{model}/{out}: {wrong.size} labels differ, first at {wrong[0]}"
        else:
            np.testing.assert_allclose(have, expected, rtol=RTOL, atol=ATOL, err_msg=f"{model}/{out}")


@pytest.mark.parametrize("entry", INDEX["models"], ids=[e["name"] for e in INDEX["models"]])
def test_zoo_model_matches_onnxruntime(server, entry):
    name = entry["name"]
    model, add_error = add_to_demo(server, name)
    status, body = (422, add_error) if add_error else admin_post(server, f"/admin/models/{model}/load")
    if name in REFUSED_TODAY:
        assert status >= 400 and REFUSED_TODAY[name] in body, f"{name}: expected a refusal naming {REFUSED_TODAY[name]}, got {status} {body}"
        return
    assert status == 200, f"{name} was not served: {status} {body}"

    rows = dict(np.load(ZOO / name / "rows.npz", allow_pickle=True))
    c = httpclient.InferenceServerClient(
        server.data_hostport, ssl=True, ssl_options={"ca_certs": server.ca}, connection_timeout=10, network_timeout=60
    )
    headers = {"Authorization": f"Bearer {server.token('admin')}"}
    expected = reference(name, rows)
    outputs = [httpclient.InferRequestedOutput(o, binary_data=True) for o in expected]
    result = c.infer(model, [v2_input(k, v) for k, v in rows.items()], outputs=outputs, headers=headers)
    compare(f"{name} (batch 256)", result, expected)
    for i in range(SINGLE_ROWS):
        one = {k: v[i:i + 1] for k, v in rows.items()}
        result = c.infer(model, [v2_input(k, v) for k, v in one.items()], outputs=outputs, headers=headers)
        compare(f"{name} (row {i})", result, reference(name, one))
    # Away from the training data: random rows far outside the held-out range, rows built to
    # tie (duplicates, zeros, one extreme feature), and odd text.
    away = rows_away_from_training(rows, np.random.default_rng(sum(map(ord, name))))
    # Where onnxruntime's answer is NaN or infinite (naive Bayes far from its classes: 0/0),
    # Palisade refuses with 422 rather than serve it; everywhere else the answers are equal.
    want = reference(name, away)
    finite = finite_rows(want)
    served = {k: v[finite] for k, v in away.items()}
    result = c.infer(model, [v2_input(k, v) for k, v in served.items()], outputs=outputs, headers=headers)
    compare(f"{name} (rows away from the training data)", result, {k: v[finite] for k, v in want.items()})
    for i in np.flatnonzero(~finite)[:4]:
        with pytest.raises(InferenceServerException, match="non-finite"):
            c.infer(model, [v2_input(k, v[i:i + 1]) for k, v in away.items()], outputs=outputs, headers=headers)


def rows_away_from_training(rows, rng):
    """256 rows away from the held-out ones. Float features: 192 rows drawn uniformly from three
    times the held-out range of each feature, then boundary rows: all zeros, held-out rows
    repeated (exact ties between rows and between a row and a training point), and held-out
    rows with one feature pushed to ±1e4 times its range; where the held-out rows carry NaN
    (models that impute it), the same rows' NaN stay in place. Text features: held-out words
    shuffled and joined at random, plus empty, punctuation-only, accented, mixed-case and very
    long ones."""
    n = len(next(iter(rows.values())))
    away = {}
    for k, v in rows.items():
        if v.dtype == object:
            away[k] = text_away(v.ravel(), rng).reshape((256,) + v.shape[1:])
            continue
        flat = v.reshape(n, -1).astype(np.float64)
        lo, hi = np.nanmin(flat, axis=0), np.nanmax(flat, axis=0)
        span = np.maximum(hi - lo, 1.0)
        random = rng.uniform(lo - span, hi + span, size=(192, flat.shape[1]))
        zeros = np.zeros((8, flat.shape[1]))
        repeated = np.repeat(flat[:8], 4, axis=0)
        pushed = np.nan_to_num(flat[8:32], nan=0.0)
        feature = rng.integers(0, flat.shape[1], size=len(pushed))
        pushed[np.arange(len(pushed)), feature] = rng.choice([-1e4, 1e4], size=len(pushed)) * span[feature]
        block = np.concatenate([random, zeros, repeated, pushed])
        block[np.isnan(flat[np.arange(256) % n])] = np.nan
        away[k] = block.astype(v.dtype).reshape((256,) + v.shape[1:])
    return away


def text_away(texts, rng):
    words = [w for t in texts for w in str(t).split()] or ["a"]
    odd = ["", " ", "!!! ... ???", "ÉCOLE café Straße naïve", "THE the ThE", "İstanbul ıi",
           " ".join(words[:50]) * 20, "a" * 3000, "tab\tnew\nline", "0 1 2 3 12.5 -7"]
    made = [" ".join(rng.choice(words, size=rng.integers(1, 40))) for _ in range(256 - len(odd))]
    return np.array(made + odd, dtype=object)


def test_zoo_is_large_enough():
    assert len(INDEX["models"]) >= 30
    libraries = {e["library"] for e in INDEX["models"]}
    assert {"sklearn", "xgboost", "lightgbm", "catboost"} <= libraries
    assert any(e["zipmap"] for e in INDEX["models"]) and any(not e["zipmap"] for e in INDEX["models"])


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_demo_breast_cancer_labels_agree_on_10000_random_rows(server, binary):
    # The bug this issue fixed: the tree's label disagreed with onnxruntime (and with its own
    # probabilities) on ~6% of random rows away from the training data.
    x = np.random.default_rng(13).uniform(0, 3, size=(10_000, 30)).astype(np.float32)
    c = httpclient.InferenceServerClient(
        server.data_hostport, ssl=True, ssl_options={"ca_certs": server.ca}, connection_timeout=10, network_timeout=60
    )
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    session = ort.InferenceSession(str(ROOT / "models" / "breast-cancer" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    expected = dict(zip(names, session.run(None, {"input": x})))
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]
    result = c.infer("breast-cancer", [inp], outputs=outputs, headers={"Authorization": f"Bearer {server.token('client')}"})
    compare("breast-cancer", result, expected)
    labels = result.as_numpy(names[0])
    probabilities = result.as_numpy(names[1])
    assert (labels == probabilities.argmax(axis=1)).all(), "a label disagrees with its own probabilities"
    assert 0 < labels.sum() < len(labels), "random rows should reach both classes"


def test_nan_reaches_only_models_that_read_it_as_missing(server):
    # The imputing pipelines above take NaN (their Imputer replaces it); a model with no
    # missing-value handling refuses it with 400 rather than computing on it.
    c = httpclient.InferenceServerClient(
        server.data_hostport, ssl=True, ssl_options={"ca_certs": server.ca}, connection_timeout=10, network_timeout=20
    )
    x = np.array([[5.1, np.nan, 1.4, 0.2]], dtype=np.float32)
    with pytest.raises(InferenceServerException, match="NaN.*no missing-value handling"):
        c.infer("iris", [v2_input("input", x)], headers={"Authorization": f"Bearer {server.token('client')}"})
