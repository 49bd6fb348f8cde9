"""Write an MLServer model folder for the same iris logistic regression that
scripts/make_demo_models.py exports to ONNX (same data, same seed, same parameters)."""

import json
import pathlib
import sys

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
iris = load_iris()
clf = LogisticRegression(max_iter=1000, random_state=0).fit(iris.data.astype(np.float32), iris.target)
joblib.dump(clf, out / "model.joblib")
(out / "model-settings.json").write_text(
    json.dumps({"name": "iris", "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": "./model.joblib"}})
)
(out.parent / "settings.json").write_text(json.dumps({"debug": False, "metrics_endpoint": None}))
