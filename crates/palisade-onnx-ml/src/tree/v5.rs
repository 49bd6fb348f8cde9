//! TreeEnsemble (ai.onnx.ml opset 5), converted into the opset-3 arrays the forest is built
//! from, as onnxruntime converts it: each tree from its root in `tree_roots`, children given
//! as node or leaf indices, and a `BRANCH_MEMBER` node (a set test) unrolled into a chain of
//! `BRANCH_EQ` nodes sharing one true branch. Shared subtrees are copied, within a bound, and
//! a tree that loops back or grows past the bound is refused.

use tract_hir::internal::*;

use super::forest::{Arrays, Mode, Targets};
use crate::attrs::Attrs;

/// How many opset-3 nodes the conversion may create per listed node (copies of shared
/// subtrees, unrolled set tests) before the model is refused.
const GROWTH: usize = 8;
const MAX_DEPTH: usize = 1024;

struct Source {
    modes: Vec<u8>,
    features: Vec<i64>,
    splits: Vec<f64>,
    true_ids: Vec<i64>,
    true_leafs: Vec<i64>,
    false_ids: Vec<i64>,
    false_leafs: Vec<i64>,
    missing: Vec<i64>,
    members: Vec<Vec<f64>>,
    leaf_targets: Vec<i64>,
    leaf_weights: Vec<f64>,
}

struct Out<'a> {
    a: &'a Attrs<'a>,
    arrays: Arrays,
    tree: i64,
    next_id: i64,
    budget: usize,
}

impl Out<'_> {
    /// A node with its id in this tree; its children are set later.
    fn push(&mut self, mode: Mode, feature: i64, value: f64, missing: i64) -> TractResult<usize> {
        if self.budget == 0 {
            return self.a.fail(
                "nodes_truenodeids",
                "the trees share so many subtrees that unrolling them would be unbounded",
            );
        }
        self.budget -= 1;
        let a = &mut self.arrays;
        a.tree_ids.push(self.tree);
        a.node_ids.push(self.next_id);
        a.feature_ids.push(feature);
        a.modes.push(mode);
        a.values.push(value);
        a.true_ids.push(0);
        a.false_ids.push(0);
        a.missing.push(missing);
        self.next_id += 1;
        Ok(a.tree_ids.len() - 1)
    }

    fn leaf(&mut self, src: &Source, leaf: i64) -> TractResult<i64> {
        let Some(l) = usize::try_from(leaf)
            .ok()
            .filter(|l| *l < src.leaf_weights.len())
        else {
            return self
                .a
                .fail("nodes_trueleafs", format!("leaf {leaf} does not exist"));
        };
        let at = self.push(Mode::Leaf, 0, 0.0, 0)?;
        let id = self.arrays.node_ids[at];
        let t: &mut Targets = &mut self.arrays.targets;
        t.ids.push(src.leaf_targets[l]);
        t.trees.push(self.tree);
        t.nodes.push(id);
        t.weights.push(src.leaf_weights[l]);
        Ok(id)
    }

    /// Adds node `i` (or leaf `i` when `is_leaf`) and everything below it; returns its id.
    fn add(&mut self, src: &Source, i: i64, is_leaf: bool, depth: usize) -> TractResult<i64> {
        if is_leaf {
            return self.leaf(src, i);
        }
        if depth > MAX_DEPTH {
            return self.a.fail(
                "nodes_truenodeids",
                format!("a tree is deeper than {MAX_DEPTH} nodes, or loops back on itself"),
            );
        }
        let Some(n) = usize::try_from(i).ok().filter(|n| *n < src.modes.len()) else {
            return self
                .a
                .fail("nodes_truenodeids", format!("node {i} does not exist"));
        };
        let mode = match src.modes[n] {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            5 => Mode::Neq,
            6 => Mode::Eq, // BRANCH_MEMBER, unrolled below
            other => {
                return self.a.fail(
                    "nodes_modes",
                    format!("{other} is not a node mode (0 to 6)"),
                )
            }
        };
        let missing = src.missing.get(n).copied().unwrap_or(0);
        let member = src.modes[n] == 6;
        let values: Vec<f64> = if member {
            src.members[n].clone()
        } else {
            vec![src.splits[n]]
        };
        if values.is_empty() {
            return self.a.fail(
                "membership_values",
                format!("node {n} tests membership of an empty set"),
            );
        }
        // The chain of tests comes first (the first is this node), then the shared true
        // branch, then the false branch of the last test.
        let chain: Vec<usize> = values
            .iter()
            .map(|v| self.push(mode, src.features[n], *v, missing))
            .collect::<TractResult<_>>()?;
        let true_id = self.add(src, src.true_ids[n], src.true_leafs[n] != 0, depth + 1)?;
        let false_id = self.add(src, src.false_ids[n], src.false_leafs[n] != 0, depth + 1)?;
        for (k, &at) in chain.iter().enumerate() {
            self.arrays.true_ids[at] = true_id;
            self.arrays.false_ids[at] = match chain.get(k + 1) {
                Some(&next) => self.arrays.node_ids[next],
                None => false_id,
            };
        }
        Ok(self.arrays.node_ids[chain[0]])
    }
}

/// The opset-3 arrays of a TreeEnsemble node.
pub(crate) fn arrays(a: &Attrs) -> TractResult<Arrays> {
    let modes = a.tensor_u8("nodes_modes")?.unwrap_or_default();
    let n = modes.len();
    let ints = |name: &str| a.ints_or_empty(name);
    let src = Source {
        features: ints("nodes_featureids")?,
        splits: a.tensor_f64("nodes_splits")?.unwrap_or_default(),
        true_ids: ints("nodes_truenodeids")?,
        true_leafs: ints("nodes_trueleafs")?,
        false_ids: ints("nodes_falsenodeids")?,
        false_leafs: ints("nodes_falseleafs")?,
        missing: ints("nodes_missing_value_tracks_true")?,
        members: Vec::new(),
        leaf_targets: ints("leaf_targetids")?,
        leaf_weights: a.tensor_f64("leaf_weights")?.unwrap_or_default(),
        modes,
    };
    for (name, len) in [
        ("nodes_featureids", src.features.len()),
        ("nodes_splits", src.splits.len()),
        ("nodes_truenodeids", src.true_ids.len()),
        ("nodes_trueleafs", src.true_leafs.len()),
        ("nodes_falsenodeids", src.false_ids.len()),
        ("nodes_falseleafs", src.false_leafs.len()),
    ] {
        a.same_len(name, len, "nodes_modes", n)?;
    }
    if !src.missing.is_empty() {
        a.same_len(
            "nodes_missing_value_tracks_true",
            src.missing.len(),
            "nodes_modes",
            n,
        )?;
    }
    a.same_len(
        "leaf_weights",
        src.leaf_weights.len(),
        "leaf_targetids",
        src.leaf_targets.len(),
    )?;
    // Membership sets: one per BRANCH_MEMBER node, in node order, separated by NaN.
    let mut src = src;
    let flat = a.tensor_f64("membership_values")?.unwrap_or_default();
    let mut sets = flat.split(|v| v.is_nan()).map(<[f64]>::to_vec);
    src.members = src
        .modes
        .iter()
        .map(|m| {
            if *m == 6 {
                sets.next().unwrap_or_default()
            } else {
                Vec::new()
            }
        })
        .collect();
    let roots = ints("tree_roots")?;
    if roots.is_empty() {
        return a.fail("tree_roots", "the ensemble has no trees");
    }
    let members: usize = src.members.iter().map(Vec::len).sum();
    let mut out = Out {
        a,
        arrays: Arrays {
            tree_ids: Vec::new(),
            node_ids: Vec::new(),
            feature_ids: Vec::new(),
            modes: Vec::new(),
            values: Vec::new(),
            true_ids: Vec::new(),
            false_ids: Vec::new(),
            missing: Vec::new(),
            targets: Targets {
                ids: Vec::new(),
                trees: Vec::new(),
                nodes: Vec::new(),
                weights: Vec::new(),
            },
        },
        tree: 0,
        next_id: 0,
        budget: (n + members + src.leaf_weights.len() + roots.len()).saturating_mul(GROWTH),
    };
    for (tree, &root) in roots.iter().enumerate() {
        out.tree = tree as i64;
        out.next_id = 0;
        out.add(&src, root, false, 0)?;
    }
    Ok(out.arrays)
}
