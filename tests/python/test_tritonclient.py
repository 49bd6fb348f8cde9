"""tritonclient over TLS with an API key, against each demo model, compared with onnxruntime.

This is also the check that tract (inside palisade) and onnxruntime agree on fixed inputs.
"""

import pathlib

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import finite_rows

ROOT = pathlib.Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(7)

# (model, feature count, fixed inputs)
CASES = [
    ("iris", 4, np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32)),
    ("diabetes", 10, RNG.normal(0, 0.05, size=(5, 10)).astype(np.float32)),
    ("breast-cancer", 30, RNG.uniform(0, 30, size=(4, 30)).astype(np.float32)),
]


def client(server):
    return httpclient.InferenceServerClient(
        server.data_hostport, ssl=True, ssl_options={"ca_certs": server.ca}, connection_timeout=10, network_timeout=20
    )


def reference(model, x):
    session = ort.InferenceSession(str(ROOT / "models" / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"input": x})))


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("model,features,x", CASES, ids=[c[0] for c in CASES])
def test_infer_matches_onnxruntime(server, model, features, x, binary):
    c = client(server)
    headers = {"Authorization": f"Bearer {server.token('client')}"}
    assert c.is_model_ready(model, headers=headers)
    meta = c.get_model_metadata(model, headers=headers)
    assert meta["inputs"][0]["shape"] == [-1, features]

    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    expected = reference(model, x)
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in expected]
    result = c.infer(model, [inp], outputs=outputs, headers=headers, request_id="py-1")
    assert result.get_response()["id"] == "py-1"
    for name, want in expected.items():
        got = result.as_numpy(name)
        assert got.shape == want.shape, name
        assert got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{model}/{name}")


def test_default_request_gets_binary_outputs(server):
    # tritonclient asks for binary_data_output when no outputs are named.
    c = client(server)
    x = CASES[0][2]
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = c.infer("iris", [inp], headers={"Authorization": f"Bearer {server.token('client')}"})
    np.testing.assert_allclose(result.as_numpy("probabilities"), reference("iris", x)["probabilities"], atol=1e-5)
    np.testing.assert_array_equal(result.as_numpy("label"), [0, 2, 1])


def test_without_a_key_tritonclient_sees_401(server):
    c = client(server)
    with pytest.raises(InferenceServerException) as err:
        c.get_model_metadata("iris")
    assert "401" in str(err.value) or "authentication" in str(err.value)


def test_server_metadata_and_health(server):
    c = client(server)
    headers = {"Authorization": f"Bearer {server.token('client')}"}
    assert c.is_server_live()
    assert c.is_server_ready()
    assert c.get_server_metadata(headers=headers)["name"] == "palisade"


def test_model_config_and_repository_index(server):
    c = client(server)
    headers = {"Authorization": f"Bearer {server.token('client')}"}
    config = c.get_model_config("iris", headers=headers)
    assert config["name"] == "iris"
    assert config["input"] == [{"name": "input", "data_type": "TYPE_FP32", "dims": [-1, 4]}]
    assert [o["name"] for o in config["output"]] == ["label", "probabilities"]
    assert config["output"][0]["data_type"] == "TYPE_INT64"
    assert c.get_model_config("iris", model_version="1", headers=headers)["name"] == "iris"
    index = c.get_model_repository_index(headers=headers)
    names = sorted({entry["name"] for entry in index})
    assert names == ["breast-cancer", "diabetes", "iris"], index
    assert all(entry["state"] == "READY" for entry in index)
    # Without a key: 401, as for every other model route.
    with pytest.raises(InferenceServerException):
        c.get_model_repository_index()
    with pytest.raises(InferenceServerException):
        c.get_model_config("iris")


@pytest.mark.parametrize("model,features,x", CASES, ids=[c[0] for c in CASES])
def test_rows_far_from_the_training_data_match_onnxruntime(server, model, features, x):
    # Random rows ten times wider than the fixed ones, zeros, repeated rows and ±1e6: labels
    # equal, scores within 1e-5 + 1e-4·|reference|; a row whose reference is not finite is
    # refused with 422 rather than answered.
    rng = np.random.default_rng(features)
    scale = float(np.abs(x).max()) + 1.0
    rows = np.concatenate([
        rng.uniform(-10 * scale, 10 * scale, size=(500, features)),
        np.zeros((4, features)),
        np.repeat(x, 2, axis=0),
        np.full((2, features), 1e6),
        np.full((2, features), -1e6),
    ]).astype(np.float32)
    want = reference(model, rows)
    finite = finite_rows(want)
    c = client(server)
    headers = {"Authorization": f"Bearer {server.token('client')}"}
    served = rows[finite]
    inp = httpclient.InferInput("input", list(served.shape), "FP32")
    inp.set_data_from_numpy(served, binary_data=True)
    expected = {name: v[finite] for name, v in want.items()}
    outputs = [httpclient.InferRequestedOutput(name, binary_data=True) for name in expected]
    result = c.infer(model, [inp], outputs=outputs, headers=headers)
    for name, want_out in expected.items():
        got = result.as_numpy(name)
        if want_out.dtype.kind in "iub":
            assert (got == want_out).all(), f"{model}/{name}: {int((got != want_out).sum())} labels differ"
        else:
            np.testing.assert_allclose(got, want_out, rtol=1e-4, atol=1e-5, err_msg=f"{model}/{name}")
    for i in np.flatnonzero(~finite)[:4]:
        one = httpclient.InferInput("input", [1, features], "FP32")
        one.set_data_from_numpy(rows[i:i + 1], binary_data=True)
        with pytest.raises(InferenceServerException, match="non-finite"):
            c.infer(model, [one], outputs=outputs, headers=headers)
