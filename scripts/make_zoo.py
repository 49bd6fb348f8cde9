#!/usr/bin/env python3
"""The conformance zoo: everyday tabular models, exported the way data scientists export them.

Trains each model on a public toy data set (fixed seeds), exports it with the library's usual
converter (skl2onnx, onnxmltools, CatBoost's own), and writes, per model:
  tests/zoo/<name>/model.onnx   the export, untouched
  tests/zoo/<name>/rows.npz     256 held-out rows, one array per model input
and tests/zoo/zoo.json, the index tests/python/test_zoo.py serves and checks against onnxruntime.

Run: .venv/bin/python scripts/make_zoo.py   (needs scripts/requirements-zoo.txt)
"""
import json
import pathlib
import warnings

import numpy as np
import onnx

warnings.filterwarnings("ignore")
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "zoo"
ROWS = 256
OPSET = {"": 17, "ai.onnx.ml": 3}
rng = np.random.default_rng(2026)


def data():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

    def split(X, y):
        idx = rng.permutation(len(X))
        X, y = X[idx].astype(np.float32), y[idx]
        cut = len(X) * 2 // 3
        return X[:cut], y[:cut], X[cut:]

    return {
        "binary": split(*load_breast_cancer(return_X_y=True)),
        "multi": split(*load_wine(return_X_y=True)),
        "iris": split(*load_iris(return_X_y=True)),
        "regression": split(*load_diabetes(return_X_y=True)),
    }


def held_out(X):
    """256 rows: the held-out ones, then resampled ones jittered across each column's range."""
    lo, hi = X.min(0), X.max(0)
    extra = X[rng.integers(len(X), size=max(0, ROWS - len(X)))]
    extra = extra + rng.normal(0, 0.05, size=extra.shape) * (hi - lo)
    return np.concatenate([X, extra])[:ROWS].astype(np.float32)


ENTRIES = []
NOT_EXPORTED = []


def exporting(name, fn):
    """Runs one export; an exporter that fails is listed in zoo.json, not fatal."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - an exporter's own bug, recorded with its message
        reason = str(e).splitlines()[0][:200]
        NOT_EXPORTED.append({"name": name, "reason": reason})
        print(f"{name:32} NOT EXPORTED: {reason}")


def save(name, library, m, inputs, note, zipmap=False):
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    if not isinstance(m, onnx.ModelProto):
        m = onnx.load_from_string(m)
    onnx.save(m, d / "model.onnx")
    np.savez(d / "rows.npz", **inputs)
    ops = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in m.graph.node})
    ENTRIES.append({"name": name, "library": library, "note": note, "zipmap": zipmap, "operators": ops})
    print(f"{name:32} {library:10} {', '.join(ops)}")


def sklearn_models(D):
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier, HistGradientBoostingRegressor, IsolationForest,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
    from sklearn.naive_bayes import BernoulliNB, GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    def export(name, est, kind, note, zipmap=False, nan=False):
        exporting(name, lambda: export_one(name, est, kind, note, zipmap, nan))

    def export_one(name, est, kind, note, zipmap, nan):
        X, y, H = D[kind]
        if nan:
            X = X.copy()
            X[rng.random(X.shape) < 0.1] = np.nan
        est.fit(X, y)
        from sklearn.base import is_classifier
        last = est.steps[-1][1] if hasattr(est, "steps") else est
        # Only a classifier with probabilities has a ZipMap to keep or drop.
        probabilities = is_classifier(last) and hasattr(last, "predict_proba")
        options = {id(last): {"zipmap": zipmap}} if probabilities else None
        m = to_onnx(est, X[:1], target_opset=OPSET, options=options)
        rows = held_out(H)
        if nan:
            rows[rng.random(rows.shape) < 0.1] = np.nan
        save(name, "sklearn", m, {"X": rows}, note, zipmap)

    export("sk_logreg_scaled", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), "binary",
           "StandardScaler + LogisticRegression, binary")
    export("sk_logreg_multi_zipmap", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), "multi",
           "StandardScaler + LogisticRegression, 3 classes, default ZipMap export", zipmap=True)
    export("sk_ridge_imputed", make_pipeline(SimpleImputer(), MinMaxScaler(), Ridge()), "regression",
           "SimpleImputer + MinMaxScaler + Ridge, 10% NaN", nan=True)
    export("sk_linear_regression", LinearRegression(), "regression", "LinearRegression")
    # skl2onnx 1.20 cannot export LinearSVC under scikit-learn 1.9 (it asks for a ZipMap
    # option LinearSVC lacks); SGDClassifier's hinge loss is the same linear SVM.
    export("sk_linear_svm_sgd", make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", random_state=0)), "multi",
           "StandardScaler + SGDClassifier (hinge: a linear SVM)")
    export("sk_svc_rbf", make_pipeline(StandardScaler(), SVC()), "multi", "StandardScaler + SVC (RBF)")
    export("sk_svc_proba", make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)), "iris",
           "StandardScaler + SVC with probabilities")
    export("sk_svr", make_pipeline(StandardScaler(), SVR()), "regression", "StandardScaler + SVR")
    export("sk_knn_classifier", KNeighborsClassifier(), "iris", "KNeighborsClassifier")
    export("sk_knn_regressor", KNeighborsRegressor(), "regression", "KNeighborsRegressor")
    export("sk_gaussian_nb", GaussianNB(), "multi", "GaussianNB")
    export("sk_bernoulli_nb", BernoulliNB(binarize=0.5), "binary", "BernoulliNB")
    export("sk_tree_classifier", DecisionTreeClassifier(max_depth=6, random_state=0), "binary", "DecisionTreeClassifier")
    export("sk_tree_regressor", DecisionTreeRegressor(max_depth=6, random_state=0), "regression", "DecisionTreeRegressor")
    export("sk_forest_classifier", RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0), "multi",
           "RandomForestClassifier, 3 classes")
    export("sk_forest_classifier_zipmap", RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0),
           "binary", "RandomForestClassifier, binary, default ZipMap export", zipmap=True)
    export("sk_forest_regressor", RandomForestRegressor(n_estimators=30, max_depth=8, random_state=0), "regression",
           "RandomForestRegressor")
    export("sk_extra_trees", ExtraTreesClassifier(n_estimators=30, max_depth=8, random_state=0), "iris",
           "ExtraTreesClassifier")
    export("sk_gradient_boosting_binary", GradientBoostingClassifier(n_estimators=50, random_state=0), "binary",
           "GradientBoostingClassifier, binary")
    export("sk_gradient_boosting_multi", GradientBoostingClassifier(n_estimators=30, random_state=0), "multi",
           "GradientBoostingClassifier, 3 classes")
    export("sk_gradient_boosting_regressor", GradientBoostingRegressor(n_estimators=50, random_state=0),
           "regression", "GradientBoostingRegressor")
    export("sk_hist_gradient_boosting", HistGradientBoostingClassifier(max_iter=30, random_state=0), "binary",
           "HistGradientBoostingClassifier")
    export("sk_hist_gradient_boosting_regressor", HistGradientBoostingRegressor(max_iter=30, random_state=0),
           "regression", "HistGradientBoostingRegressor")
    export("sk_isolation_forest", IsolationForest(n_estimators=30, random_state=0), "binary", "IsolationForest")
    export("sk_mlp_classifier", make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)),
           "multi", "StandardScaler + MLPClassifier")
    export("sk_mlp_regressor", make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, random_state=0)),
           "regression", "StandardScaler + MLPRegressor")

    # A ColumnTransformer over mixed columns: numbers imputed and scaled, a string category one-hot.
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    X, y, H = D["binary"]
    cats = np.array(["north", "south", "east", "west"])
    def city(n):
        return cats[rng.integers(4, size=(n, 1))]
    Xn = X[:, :5].copy()
    Xn[rng.random(Xn.shape) < 0.1] = np.nan
    import pandas as pd
    frame = pd.DataFrame(Xn, columns=[f"f{i}" for i in range(5)])
    frame["city"] = city(len(X))[:, 0]
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), [f"f{i}" for i in range(5)]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
    ])
    pipe = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(frame, y)
    inits = [(f"f{i}", FloatTensorType([None, 1])) for i in range(5)] + [("city", StringTensorType([None, 1]))]
    m = to_onnx(pipe, initial_types=inits, target_opset=OPSET, options={id(pipe.steps[-1][1]): {"zipmap": False}})
    rows = held_out(H)[:, :5]
    rows[rng.random(rows.shape) < 0.1] = np.nan
    inputs = {f"f{i}": rows[:, i:i + 1].astype(np.float32) for i in range(5)}
    unseen = np.array(["north", "south", "east", "west", "atlantis"])
    inputs["city"] = unseen[rng.integers(5, size=(ROWS, 1))].astype(object)
    save("sk_column_transformer", "sklearn", m, inputs,
         "ColumnTransformer (SimpleImputer + StandardScaler, OneHotEncoder on a string column) + LogisticRegression")

    # A TF-IDF text classifier (its input is text: it can sit behind the PII stage).
    from sklearn.feature_extraction.text import TfidfVectorizer
    texts = ["the loan was approved quickly", "payment overdue again", "card declined at the store",
             "approved for a new credit line", "fraud alert on my account", "thanks for the quick approval",
             "my payment bounced", "credit limit increased", "suspicious charge reported", "loan application denied"]
    labels = [1, 0, 0, 1, 0, 1, 0, 1, 0, 0]
    corpus = [texts[i % len(texts)] + (" again" if i % 3 == 0 else "") for i in range(200)]
    ys = [labels[i % len(texts)] for i in range(200)]
    text_pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=500)).fit(corpus, ys)
    m = to_onnx(text_pipe, initial_types=[("text", StringTensorType([None, 1]))], target_opset=OPSET,
                options={id(text_pipe.steps[-1][1]): {"zipmap": False}})
    words = " ".join(texts).split() + ["unknown", "zebra"]
    sentences = [" ".join(rng.choice(words, size=rng.integers(1, 9))) for _ in range(ROWS)]
    save("sk_tfidf_text", "sklearn", m, {"text": np.array(sentences, dtype=object).reshape(-1, 1)},
         "TfidfVectorizer + LogisticRegression on text")


def boosting_models(D):
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    import lightgbm
    import xgboost

    def typed(X):
        return [("X", FloatTensorType([None, X.shape[1]]))]

    for kind, label in [("binary", "binary"), ("multi", "3 classes")]:
        X, y, H = D[kind]
        xgb = xgboost.XGBClassifier(n_estimators=40, max_depth=4, random_state=0).fit(X, y)
        save(f"xgb_classifier_{kind}", "xgboost", convert_xgboost(xgb, initial_types=typed(X), target_opset=15),
             {"X": held_out(H)}, f"XGBClassifier, {label} (onnxmltools export, ZipMap)", zipmap=True)
        lgb = lightgbm.LGBMClassifier(n_estimators=40, num_leaves=15, random_state=0, verbose=-1).fit(X, y)
        save(f"lgbm_classifier_{kind}", "lightgbm", convert_lightgbm(lgb, initial_types=typed(X), target_opset=15),
             {"X": held_out(H)}, f"LGBMClassifier, {label} (onnxmltools export, ZipMap)", zipmap=True)
    X, y, H = D["binary"]
    lgb = lightgbm.LGBMClassifier(n_estimators=40, num_leaves=15, random_state=0, verbose=-1).fit(X, y)
    save("lgbm_classifier_no_zipmap", "lightgbm",
         convert_lightgbm(lgb, initial_types=typed(X), target_opset=15, zipmap=False),
         {"X": held_out(H)}, "LGBMClassifier, binary, exported without ZipMap")
    X, y, H = D["regression"]
    xgb = xgboost.XGBRegressor(n_estimators=40, max_depth=4, random_state=0).fit(X, y)
    save("xgb_regressor", "xgboost", convert_xgboost(xgb, initial_types=typed(X), target_opset=15),
         {"X": held_out(H)}, "XGBRegressor")
    lgb = lightgbm.LGBMRegressor(n_estimators=40, num_leaves=15, random_state=0, verbose=-1).fit(X, y)
    save("lgbm_regressor", "lightgbm", convert_lightgbm(lgb, initial_types=typed(X), target_opset=15),
         {"X": held_out(H)}, "LGBMRegressor")


def catboost_models(D):
    import tempfile

    import catboost

    for name, est, kind, note in [
        ("catboost_classifier", catboost.CatBoostClassifier(iterations=40, depth=4, random_seed=0, verbose=False),
         "binary", "CatBoostClassifier, binary (CatBoost's own ONNX export)"),
        ("catboost_classifier_multi", catboost.CatBoostClassifier(iterations=40, depth=4, random_seed=0,
                                                                  verbose=False, loss_function="MultiClass"),
         "multi", "CatBoostClassifier, 3 classes"),
        ("catboost_regressor", catboost.CatBoostRegressor(iterations=40, depth=4, random_seed=0, verbose=False),
         "regression", "CatBoostRegressor"),
    ]:
        X, y, H = D[kind]
        est.fit(X, y)
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "m.onnx"
            est.save_model(str(path), format="onnx")
            m = onnx.load(str(path))
        save(name, "catboost", m, {m.graph.input[0].name: held_out(H)}, note)


def main():
    D = data()
    sklearn_models(D)
    boosting_models(D)
    catboost_models(D)
    (OUT / "zoo.json").write_text(json.dumps({"models": ENTRIES, "not_exported": NOT_EXPORTED}, indent=1) + "\n")
    print(f"{len(ENTRIES)} models")


if __name__ == "__main__":
    main()
