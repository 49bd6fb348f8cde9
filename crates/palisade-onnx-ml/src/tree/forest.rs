//! A forest laid out for walking: every tree's nodes in one array, each branch's false child right
//! after it (so half the steps are `i + 1`), leaves pointing into one array of weights. This is
//! onnxruntime's layout, and building it the same way keeps its order of summation, so scores
//! come out bit-identical.
//!
//! Built without recursion (a hostile model's depth cannot overflow the stack), and a tree whose
//! branches loop back is refused: walking it would never end.

use std::collections::HashMap;

use tract_hir::internal::*;

use crate::attrs::Attrs;
use crate::real::Real;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<T> {
    /// A branch's threshold; a leaf's first weight (its `nodes_values` entry if it has none).
    pub(crate) value: T,
    pub(crate) feature: u32,
    /// A branch's true child; a leaf's first weight in [`Forest::weights`].
    pub(crate) next: u32,
    pub(crate) n_weights: u32,
    pub(crate) mode: Mode,
    pub(crate) missing_true: bool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Weight<T> {
    pub(crate) target: u32,
    pub(crate) value: T,
}

#[derive(Debug)]
pub(crate) struct Forest<T> {
    pub(crate) nodes: Vec<Node<T>>,
    pub(crate) roots: Vec<u32>,
    pub(crate) weights: Vec<Weight<T>>,
    /// The highest feature any node names: inputs must be wider than this.
    pub(crate) max_feature: usize,
    /// Every branch compares the same way and none sends NaN to the true side: the fast walk.
    pub(crate) uniform: Option<Mode>,
}

/// The attributes that describe the forest, named by the operator's prefix for its leaf weights
/// (`class_` for the classifier, `target_` for the regressor).
pub(crate) fn read<T: Real>(a: &Attrs, prefix: &str, n_targets: usize) -> TractResult<Forest<T>> {
    let tree_ids = a.ints_or_empty("nodes_treeids")?;
    let n = tree_ids.len();
    let node_ids = a.ints_or_empty("nodes_nodeids")?;
    let feature_ids = a.ints_or_empty("nodes_featureids")?;
    let modes = a.strings("nodes_modes")?.unwrap_or_default();
    let values = a.reals("nodes_values")?.unwrap_or_default();
    let true_ids = a.ints_or_empty("nodes_truenodeids")?;
    let false_ids = a.ints_or_empty("nodes_falsenodeids")?;
    let missing = a.ints_or_empty("nodes_missing_value_tracks_true")?;
    if n == 0 {
        return a.fail("nodes_treeids", "the forest has no nodes");
    }
    for (name, len) in [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", feature_ids.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
    ] {
        a.same_len(name, len, "nodes_treeids", n)?;
    }
    if !missing.is_empty() {
        a.same_len(
            "nodes_missing_value_tracks_true",
            missing.len(),
            "nodes_treeids",
            n,
        )?;
    }
    let modes = modes
        .iter()
        .map(|m| match Mode::parse(m) {
            Some(mode) => Ok(mode),
            None => a.fail(
                "nodes_modes",
                format!("'{m}' is not a node mode this runtime knows"),
            ),
        })
        .collect::<TractResult<Vec<_>>>()?;

    let (ids_attr, tree_attr, node_attr, weight_attr) = target_names(prefix);
    let targets = Targets {
        ids: a.ints_or_empty(&ids_attr)?,
        trees: a.ints_or_empty(&tree_attr)?,
        nodes: a.ints_or_empty(&node_attr)?,
        weights: a.reals(&weight_attr)?.unwrap_or_default(),
    };
    for (name, len) in [
        (&tree_attr, targets.trees.len()),
        (&node_attr, targets.nodes.len()),
        (&weight_attr, targets.weights.len()),
    ] {
        a.same_len(name, len, &ids_attr, targets.ids.len())?;
    }
    let arrays = Arrays {
        tree_ids,
        node_ids,
        feature_ids,
        modes,
        values,
        true_ids,
        false_ids,
        missing,
        targets,
    };
    build(a, arrays, prefix, n_targets)
}

/// The names of the leaf-weight attributes for a prefix.
fn target_names(prefix: &str) -> (String, String, String, String) {
    let ids = if prefix == "class_" {
        "class_ids".to_string()
    } else {
        format!("{prefix}ids")
    };
    (
        ids,
        format!("{prefix}treeids"),
        format!("{prefix}nodeids"),
        format!("{prefix}weights"),
    )
}

/// A forest as opsets 1 and 3 list it: parallel arrays of nodes, then of leaf weights.
/// TreeEnsemble (opset 5) is converted into this form.
pub(crate) struct Arrays {
    pub(crate) tree_ids: Vec<i64>,
    pub(crate) node_ids: Vec<i64>,
    pub(crate) feature_ids: Vec<i64>,
    pub(crate) modes: Vec<Mode>,
    pub(crate) values: Vec<f64>,
    pub(crate) true_ids: Vec<i64>,
    pub(crate) false_ids: Vec<i64>,
    pub(crate) missing: Vec<i64>,
    pub(crate) targets: Targets,
}

pub(crate) struct Targets {
    pub(crate) ids: Vec<i64>,
    pub(crate) trees: Vec<i64>,
    pub(crate) nodes: Vec<i64>,
    pub(crate) weights: Vec<f64>,
}

/// Lays the forest out; errors name the opset-3 attributes (`prefix` for the weights').
pub(crate) fn build<T: Real>(
    a: &Attrs,
    arrays: Arrays,
    prefix: &str,
    n_targets: usize,
) -> TractResult<Forest<T>> {
    let Arrays {
        tree_ids,
        node_ids,
        feature_ids,
        modes,
        values,
        true_ids,
        false_ids,
        missing,
        targets,
    } = arrays;
    let n = tree_ids.len();
    if n == 0 {
        return a.fail("nodes_treeids", "the forest has no nodes");
    }
    let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
    for i in 0..n {
        if index.insert((tree_ids[i], node_ids[i]), i).is_some() {
            return a.fail(
                "nodes_nodeids",
                format!(
                    "node {} of tree {} is listed twice",
                    node_ids[i], tree_ids[i]
                ),
            );
        }
    }
    let child = |i: usize, ids: &[i64], attr: &str| -> TractResult<usize> {
        match index.get(&(tree_ids[i], ids[i])) {
            Some(&c) if c == i => a.fail(
                attr,
                format!(
                    "node {} of tree {} points to itself",
                    node_ids[i], tree_ids[i]
                ),
            ),
            Some(&c) => Ok(c),
            None => a.fail(
                attr,
                format!(
                    "node {} of tree {} names a node that does not exist",
                    node_ids[i], tree_ids[i]
                ),
            ),
        }
    };
    let mut true_child = vec![0usize; n];
    let mut false_child = vec![0usize; n];
    let mut max_feature = 0usize;
    for i in 0..n {
        let Ok(feature) = u32::try_from(feature_ids[i]) else {
            return a.fail(
                "nodes_featureids",
                format!("feature {} is not a column index", feature_ids[i]),
            );
        };
        max_feature = max_feature.max(feature as usize);
        if modes[i] != Mode::Leaf {
            true_child[i] = child(i, &true_ids, "nodes_truenodeids")?;
            false_child[i] = child(i, &false_ids, "nodes_falsenodeids")?;
        }
    }

    let mut forest = Forest {
        nodes: Vec::with_capacity(n),
        roots: Vec::new(),
        weights: Vec::new(),
        max_feature,
        uniform: None,
    };
    // Where each listed node landed: None (not yet), Some(Err(())) while its subtrees are being
    // placed, Some(Ok(pos)) once done. A true edge to a node in progress is a loop.
    let mut placed: Vec<Option<Result<u32, u32>>> = vec![None; n];
    let mut seen_trees = std::collections::HashSet::new();
    let mut previous: Option<i64> = None;
    for i in 0..n {
        if previous == Some(tree_ids[i]) {
            continue;
        }
        previous = Some(tree_ids[i]);
        if !seen_trees.insert(tree_ids[i]) {
            return a.fail(
                "nodes_treeids",
                format!("the nodes of tree {} are not listed together", tree_ids[i]),
            );
        }
        let root = place(
            a,
            &mut forest,
            &mut placed,
            i,
            &modes,
            &values,
            &feature_ids,
            &missing,
        )?;
        let mut stack: Vec<(usize, u32, u8)> = vec![(i, root, 0)];
        while let Some(top) = stack.last_mut() {
            let (orig, pos, stage) = *top;
            if modes[orig] == Mode::Leaf || stage == 2 {
                placed[orig] = Some(Ok(pos));
                stack.pop();
                continue;
            }
            top.2 += 1;
            let next = if stage == 0 {
                false_child[orig]
            } else {
                true_child[orig]
            };
            if tree_ids[next] != tree_ids[orig] {
                return a.fail("nodes_treeids", "a branch points into another tree");
            }
            let child_pos = match placed[next] {
                Some(Err(_)) => {
                    return a.fail(
                        if stage == 0 {
                            "nodes_falsenodeids"
                        } else {
                            "nodes_truenodeids"
                        },
                        format!(
                            "tree {} loops back on itself at node {}",
                            tree_ids[orig], node_ids[next]
                        ),
                    )
                }
                Some(Ok(p)) if stage == 0 => {
                    return a.fail(
                        "nodes_falsenodeids",
                        format!(
                            "node {} of tree {} shares its false branch with another node (at {p})",
                            node_ids[orig], tree_ids[orig]
                        ),
                    )
                }
                Some(Ok(p)) => p,
                None => {
                    let p = place(
                        a,
                        &mut forest,
                        &mut placed,
                        next,
                        &modes,
                        &values,
                        &feature_ids,
                        &missing,
                    )?;
                    stack.push((next, p, 0));
                    p
                }
            };
            if stage == 1 {
                forest.nodes[pos as usize].next = child_pos;
            }
        }
        forest.roots.push(root);
    }
    if forest.nodes.len() != n {
        return a.fail(
            "nodes_nodeids",
            format!(
                "{} nodes are not reachable from their tree's root",
                n - forest.nodes.len()
            ),
        );
    }

    attach_weights(a, &mut forest, prefix, &targets, n_targets, &index, &placed)?;

    let first_mode = forest
        .nodes
        .iter()
        .find(|n| n.mode != Mode::Leaf)
        .map(|n| n.mode);
    let uniform = forest
        .nodes
        .iter()
        .all(|n| n.mode == Mode::Leaf || (Some(n.mode) == first_mode && !n.missing_true));
    forest.uniform = if uniform { first_mode } else { None };
    Ok(forest)
}

#[allow(clippy::too_many_arguments)]
fn place<T: Real>(
    a: &Attrs,
    forest: &mut Forest<T>,
    placed: &mut [Option<Result<u32, u32>>],
    i: usize,
    modes: &[Mode],
    values: &[f64],
    features: &[i64],
    missing: &[i64],
) -> TractResult<u32> {
    let Ok(pos) = u32::try_from(forest.nodes.len()) else {
        return a.fail("nodes_treeids", "too many nodes");
    };
    placed[i] = Some(Err(pos));
    forest.nodes.push(Node {
        value: T::from_f64(values[i]),
        feature: features[i] as u32,
        next: 0,
        n_weights: 0,
        mode: modes[i],
        missing_true: missing.get(i) == Some(&1),
    });
    Ok(pos)
}

fn attach_weights<T: Real>(
    a: &Attrs,
    forest: &mut Forest<T>,
    prefix: &str,
    targets: &Targets,
    n_targets: usize,
    index: &HashMap<(i64, i64), usize>,
    placed: &[Option<Result<u32, u32>>],
) -> TractResult<()> {
    let (ids_attr, _, node_attr, _) = target_names(prefix);
    let Targets {
        ids,
        trees,
        nodes,
        weights,
    } = targets;

    // Leaf by leaf, each leaf's weights in the order they were listed: onnxruntime's order.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&k| (trees[k], nodes[k], k));
    forest.weights.reserve(ids.len());
    for k in order {
        let Some(&orig) = index.get(&(trees[k], nodes[k])) else {
            return a.fail(
                &node_attr,
                format!(
                    "a weight names node {} of tree {}, which does not exist",
                    nodes[k], trees[k]
                ),
            );
        };
        let target = match usize::try_from(ids[k]) {
            Ok(t) if t < n_targets => t as u32,
            _ => {
                return a.fail(
                    &ids_attr,
                    format!("{} is not one of the {n_targets} outputs", ids[k]),
                )
            }
        };
        let Some(Ok(pos)) = placed[orig] else {
            return a.fail(&node_attr, "a weight names a node that was not placed");
        };
        let leaf = &mut forest.nodes[pos as usize];
        if leaf.mode != Mode::Leaf {
            // Old onnxmltools exports put weights on branches; onnxruntime ignores them too.
            continue;
        }
        let value = T::from_f64(weights[k]);
        if leaf.n_weights == 0 {
            leaf.next = forest.weights.len() as u32;
            leaf.value = value;
        }
        leaf.n_weights += 1;
        forest.weights.push(Weight { target, value });
    }
    Ok(())
}

impl<T: Real> Forest<T> {
    /// The leaf `row` reaches from `root`.
    #[inline]
    pub(crate) fn leaf(&self, root: u32, row: &[T]) -> &Node<T> {
        match self.uniform {
            Some(Mode::Leq) => self.walk(root, row, |x, v| x <= v),
            Some(Mode::Lt) => self.walk(root, row, |x, v| x < v),
            Some(Mode::Gte) => self.walk(root, row, |x, v| x >= v),
            Some(Mode::Gt) => self.walk(root, row, |x, v| x > v),
            _ => self.walk_mixed(root, row),
        }
    }

    #[inline(always)]
    fn walk(&self, root: u32, row: &[T], goes_true: impl Fn(T, T) -> bool) -> &Node<T> {
        let mut i = root as usize;
        loop {
            let node = &self.nodes[i];
            if node.mode == Mode::Leaf {
                return node;
            }
            i = if goes_true(row[node.feature as usize], node.value) {
                node.next as usize
            } else {
                i + 1
            };
        }
    }

    fn walk_mixed(&self, root: u32, row: &[T]) -> &Node<T> {
        let mut i = root as usize;
        loop {
            let node = &self.nodes[i];
            let x = row[node.feature as usize];
            let v = node.value;
            let goes_true = match node.mode {
                Mode::Leaf => return node,
                Mode::Leq => x <= v,
                Mode::Lt => x < v,
                Mode::Gte => x >= v,
                Mode::Gt => x > v,
                Mode::Eq => x == v,
                Mode::Neq => x != v,
            } || (node.missing_true && x.is_nan());
            i = if goes_true { node.next as usize } else { i + 1 };
        }
    }

    pub(crate) fn leaf_weights(&self, leaf: &Node<T>) -> &[Weight<T>] {
        let start = leaf.next as usize;
        &self.weights[start..start + leaf.n_weights as usize]
    }
}
