//! Standard-domain operators that tract runs slowly on the short rows tabular models have.
//!
//! A classifier's last steps are a Softmax over a handful of classes, an ArgMax over them and,
//! for KNN, a TopK of a few neighbours among the training rows. tract runs a Softmax over
//! three classes through SIMD kernels built for rows of 64 (padding each row through a scratch
//! buffer), an ArgMax by slicing an ndarray view per row, and a TopK by sorting the whole row;
//! that made the MLP classifier ~4× and KNN ~3× slower than onnxruntime at batch 256.
//!
//! [`replace_slow_standard_ops`] swaps those nodes of a planned model for the kernels below.
//! Each gives tract's own answer: ArgMax and TopK the same indices (ties to the lowest index,
//! as tract's fold and stable sort give them), Softmax the same values within float rounding
//! (its exponentials are libm's rather than tract's polynomial). Shapes, types and anything
//! else stay with tract.

use tract_hir::internal::*;
use tract_hir::tract_core::ops::array::Topk;
use tract_hir::tract_core::ops::nn::{Reduce, Reducer, Softmax, SoftmaxKind};

use crate::kernel::{Kernel, MlOp};

/// Rows up to this long go through [`RowSoftmax`]; longer ones keep tract's SIMD kernels.
const SHORT_ROW: usize = 32;

/// The element types ArgMax, ArgMin and TopK are swapped for; others keep tract's.
const NUMERIC: [DatumType; 4] = [
    DatumType::F32,
    DatumType::F64,
    DatumType::I64,
    DatumType::I32,
];

/// Replaces, in a planned model, each Softmax over short trailing rows, each single-axis
/// ArgMax / ArgMin and each TopK with kernels that give the same answer faster.
pub fn replace_slow_standard_ops(model: &mut TypedModel) -> TractResult<()> {
    for id in 0..model.nodes().len() {
        let node = model.node(id);
        let Some(input) = node.inputs.first() else {
            continue;
        };
        let fact = model.outlet_fact(*input)?;
        let kernel: Option<Box<dyn Kernel>> = if let Some(op) = node.op_as::<Softmax>() {
            RowSoftmax::replacing(op, fact).map(|k| Box::new(k) as _)
        } else if let Some(op) = node.op_as::<Reduce>() {
            ArgExtreme::replacing(op, fact).map(|k| Box::new(k) as _)
        } else if let Some(op) = node.op_as::<Topk>() {
            SelectTopk::replacing(op, fact).map(|k| Box::new(k) as _)
        } else {
            None
        };
        if let Some(kernel) = kernel {
            model.node_mut(id).op = Box::new(MlOp::new(kernel));
        }
    }
    Ok(())
}

/// `[outer, axis, inner]`: how a tensor of `shape` splits around `axis`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Softmax of f32 over the last axis, when that axis is short and known.
#[derive(Debug)]
struct RowSoftmax;

impl RowSoftmax {
    fn replacing(op: &Softmax, fact: &TypedFact) -> Option<RowSoftmax> {
        let rank = fact.rank();
        let row = fact.shape.last()?.to_usize().ok()?;
        let plain = op.kind == SoftmaxKind::Softmax && op.quant_output_dt.is_none();
        (plain
            && fact.datum_type == f32::datum_type()
            && op.axes.as_slice() == [rank - 1]
            && (1..=SHORT_ROW).contains(&row))
        .then_some(RowSoftmax)
    }
}

impl Kernel for RowSoftmax {
    fn name(&self) -> &'static str {
        "Softmax"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut t = inputs[0].clone().into_tensor();
        let row = *t.shape().last().context("Softmax of a scalar")?;
        let mut plain = t.try_as_plain_ram_mut()?;
        for r in plain.as_slice_mut::<f32>()?.chunks_mut(row) {
            softmax_row(r);
        }
        Ok(tvec!(t.into_tvalue()))
    }
}

fn softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    let scale = sum.recip();
    row.iter_mut().for_each(|x| *x *= scale);
}

/// ArgMax or ArgMin over one axis.
#[derive(Debug)]
struct ArgExtreme {
    axis: usize,
    max: bool,
    last: bool,
}

impl ArgExtreme {
    fn replacing(op: &Reduce, fact: &TypedFact) -> Option<ArgExtreme> {
        let (max, last) = match op.reducer {
            Reducer::ArgMax(last) => (true, last),
            Reducer::ArgMin(last) => (false, last),
            _ => return None,
        };
        match op.axes.as_slice() {
            [axis] if NUMERIC.contains(&fact.datum_type) => Some(ArgExtreme {
                axis: *axis,
                max,
                last,
            }),
            _ => None,
        }
    }

    /// tract's fold, row by row: start from index 0 and the type's lowest (highest) value,
    /// move on a strictly better value, or an equal one when `last` is set.
    fn run<T: Copy + PartialOrd>(
        &self,
        x: &[T],
        shape: &[usize],
        (lowest, highest): (T, T),
    ) -> Vec<i64> {
        let start = if self.max { lowest } else { highest };
        let (outer, len, inner) = split(shape, self.axis);
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let (mut best_at, mut best) = (0usize, start);
                for k in 0..len {
                    let v = x[(o * len + k) * inner + i];
                    let better = if self.max { v > best } else { v < best };
                    if better || (self.last && v == best) {
                        (best_at, best) = (k, v);
                    }
                }
                out.push(best_at as i64);
            }
        }
        out
    }
}

impl Kernel for ArgExtreme {
    fn name(&self) -> &'static str {
        if self.max {
            "ArgMax"
        } else {
            "ArgMin"
        }
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape = inputs[0].shape.to_tvec();
        shape[self.axis] = 1.into();
        Ok(tvec!(i64::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let shape = inputs[0].shape();
        let x = inputs[0].try_as_plain_ram()?;
        let found = match inputs[0].datum_type() {
            DatumType::F32 => self.run(x.as_slice::<f32>()?, shape, (f32::MIN, f32::MAX)),
            DatumType::F64 => self.run(x.as_slice::<f64>()?, shape, (f64::MIN, f64::MAX)),
            DatumType::I64 => self.run(x.as_slice::<i64>()?, shape, (i64::MIN, i64::MAX)),
            DatumType::I32 => self.run(x.as_slice::<i32>()?, shape, (i32::MIN, i32::MAX)),
            dt => bail!("{} of {dt:?} is not supported", self.name()),
        };
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[self.axis] = 1;
        Ok(tvec!(tensor1(&found).into_shape(&out_shape)?.into_tvalue()))
    }
}

/// TopK by selection rather than by sorting the whole axis.
#[derive(Debug)]
struct SelectTopk {
    axis: usize,
    largest: bool,
    fallback_k: TDim,
}

impl SelectTopk {
    fn replacing(op: &Topk, fact: &TypedFact) -> Option<SelectTopk> {
        NUMERIC.contains(&fact.datum_type).then(|| SelectTopk {
            axis: op.axis,
            largest: op.largest,
            fallback_k: op.fallback_k.clone(),
        })
    }

    fn run<T: Datum + Copy + PartialOrd>(
        &self,
        x: &[T],
        shape: &[usize],
        k: usize,
    ) -> TractResult<(Tensor, Tensor)> {
        let (outer, len, inner) = split(shape, self.axis);
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[self.axis] = k;
        let n = outer * k * inner;
        // Every slot is written below; an empty input has an empty output.
        let mut values = x.first().map_or_else(Vec::new, |v| vec![*v; n]);
        let mut indices = vec![0i64; n];
        let mut row: Vec<(T, usize)> = Vec::with_capacity(len);
        for o in 0..outer {
            for i in 0..inner {
                row.clear();
                row.extend((0..len).map(|j| (x[(o * len + j) * inner + i], j)));
                // The order of a stable sort on the value (best first), so ties go to the
                // lower index; NaN, which has no place in that order, goes last.
                let order = |a: &(T, usize), b: &(T, usize)| {
                    let by_value = match (a.0.partial_cmp(&b.0), is_number(&a.0), is_number(&b.0)) {
                        (Some(o), ..) if self.largest => o.reverse(),
                        (Some(o), ..) => o,
                        (None, true, false) => std::cmp::Ordering::Less,
                        (None, false, true) => std::cmp::Ordering::Greater,
                        (None, ..) => std::cmp::Ordering::Equal,
                    };
                    by_value.then(a.1.cmp(&b.1))
                };
                if k > 0 && k < len {
                    row.select_nth_unstable_by(k - 1, order);
                }
                row[..k].sort_unstable_by(order);
                for (rank, (v, j)) in row[..k].iter().enumerate() {
                    let at = (o * k + rank) * inner + i;
                    values[at] = *v;
                    indices[at] = *j as i64;
                }
            }
        }
        Ok((
            tensor1(&values).into_shape(&out_shape)?,
            tensor1(&indices).into_shape(&out_shape)?,
        ))
    }
}

/// Whether `x` has a place in its type's order (false for NaN only).
fn is_number<T: PartialOrd>(x: &T) -> bool {
    x.partial_cmp(x).is_some()
}

impl Kernel for SelectTopk {
    fn name(&self) -> &'static str {
        "TopK"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let k: TDim = match &inputs[1].konst {
            Some(k) => k
                .cast_to::<TDim>()?
                .try_as_plain_ram()?
                .to_scalar::<TDim>()?
                .clone(),
            None => self.fallback_k.clone(),
        };
        let mut values = inputs[0].without_value();
        values.shape.set(self.axis, k.clone());
        let mut indices = values.clone();
        indices.datum_type = i64::datum_type();
        Ok(tvec!(values, indices))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let shape = inputs[0].shape();
        let len = shape[self.axis];
        let k = inputs[1].cast_to_scalar::<i64>()?;
        let k = usize::try_from(k)
            .ok()
            .filter(|k| *k <= len)
            .with_context(|| format!("TopK asks for k = {k} of an axis of {len}"))?;
        let x = inputs[0].try_as_plain_ram()?;
        let (values, indices) = match inputs[0].datum_type() {
            DatumType::F32 => self.run(x.as_slice::<f32>()?, shape, k)?,
            DatumType::F64 => self.run(x.as_slice::<f64>()?, shape, k)?,
            DatumType::I64 => self.run(x.as_slice::<i64>()?, shape, k)?,
            DatumType::I32 => self.run(x.as_slice::<i32>()?, shape, k)?,
            dt => bail!("TopK of {dt:?} is not supported"),
        };
        Ok(tvec!(values.into_tvalue(), indices.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    //! Each replacement against tract's own operator, planned and run the same way, on random
    //! tensors drawn from values that tie, sit at the type's bounds and are signed zeros.
    use super::*;

    /// A small deterministic generator (splitmix64): no dependency for a test's noise.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn shape(&mut self) -> Vec<usize> {
            (0..1 + self.below(3)).map(|_| 1 + self.below(6)).collect()
        }

        /// Mostly a few repeated values (ties), sometimes extremes, sometimes anything.
        fn value(&mut self) -> f32 {
            const AWKWARD: [f32; 8] = [
                0.0,
                -0.0,
                1.0,
                -1.0,
                f32::MIN,
                f32::MAX,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ];
            match self.below(3) {
                0 => AWKWARD[self.below(AWKWARD.len())],
                1 => self.below(4) as f32,
                _ => (self.next() as f64 / u64::MAX as f64 * 200.0 - 100.0) as f32,
            }
        }

        fn tensor(&mut self, shape: &[usize]) -> Tensor {
            let n = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|_| self.value()).collect();
            tensor1(&data).into_shape(shape).unwrap()
        }
    }

    /// Runs `op` on `x` (and a constant `k`) as tract plans it, with and without the swap.
    fn both(op: Box<dyn TypedOp>, x: &Tensor, k: Option<i64>) -> (TVec<Tensor>, TVec<Tensor>) {
        let run = |swap: bool| {
            let mut model = TypedModel::default();
            let source = model
                .add_source("x", x.datum_type().fact(x.shape()))
                .unwrap();
            let mut inputs = tvec![source];
            if let Some(k) = k {
                inputs.push(model.add_const("k", tensor1(&[k])).unwrap());
            }
            let out = model.wire_node("op", op.clone(), &inputs).unwrap();
            model.select_output_outlets(&out).unwrap();
            if swap {
                replace_slow_standard_ops(&mut model).unwrap();
                assert!(model.node(model.nodes().len() - 1).op_is::<MlOp>());
            }
            let plan = model.into_runnable().unwrap();
            let outputs = plan.run(tvec![x.clone().into_tvalue()]).unwrap();
            outputs
                .into_iter()
                .map(|t| t.into_tensor())
                .collect::<TVec<_>>()
        };
        (run(false), run(true))
    }

    #[test]
    fn arg_max_and_min_give_tracts_indices_ties_and_nan_included() {
        let mut noise = Noise(7);
        for _ in 0..2_000 {
            let shape = noise.shape();
            let mut x = noise.tensor(&shape);
            if noise.below(4) == 0 {
                let mut plain = x.try_as_plain_ram_mut().unwrap();
                let data = plain.as_slice_mut::<f32>().unwrap();
                let at = noise.below(data.len());
                data[at] = f32::NAN;
            }
            let axis = noise.below(shape.len());
            let reducer = match noise.below(4) {
                0 => Reducer::ArgMax(false),
                1 => Reducer::ArgMax(true),
                2 => Reducer::ArgMin(false),
                _ => Reducer::ArgMin(true),
            };
            let op = Reduce::new(tvec![axis], reducer);
            let (tract, ours) = both(Box::new(op), &x, None);
            assert_eq!(tract, ours, "{reducer:?} on axis {axis} of {x:?}");
        }
    }

    #[test]
    fn top_k_gives_tracts_values_and_indices_ties_first_by_index() {
        let mut noise = Noise(11);
        for _ in 0..2_000 {
            let shape = noise.shape();
            let x = noise.tensor(&shape);
            let axis = noise.below(shape.len());
            let k = noise.below(shape[axis] + 1) as i64;
            let largest = noise.below(2) == 0;
            let op = Topk::new(axis, largest, TDim::Val(k));
            let (tract, ours) = both(Box::new(op), &x, Some(k));
            assert_eq!(tract, ours, "k={k} largest={largest} axis {axis} of {x:?}");
        }
    }

    #[test]
    fn top_k_puts_nan_last_and_refuses_a_k_beyond_the_axis() {
        let x = tensor1(&[1.0f32, f32::NAN, 3.0, 2.0]);
        let kernel = SelectTopk {
            axis: 0,
            largest: true,
            fallback_k: TDim::Val(4),
        };
        let run = |k: i64| kernel.eval(tvec![x.clone().into_tvalue(), tensor0(k).into_tvalue()]);
        let out = run(4).unwrap();
        let values = out[0].try_as_plain_ram().unwrap();
        let values = values.as_slice::<f32>().unwrap();
        assert_eq!(&values[..3], &[3.0, 2.0, 1.0]);
        assert!(values[3].is_nan());
        assert_eq!(
            out[1]
                .try_as_plain_ram()
                .unwrap()
                .as_slice::<i64>()
                .unwrap(),
            &[2, 3, 0, 1]
        );
        assert!(run(5).is_err());
        assert!(run(-1).is_err());
    }

    #[test]
    fn softmax_on_short_rows_matches_tracts_within_rounding() {
        let mut noise = Noise(13);
        for _ in 0..2_000 {
            let mut shape = noise.shape();
            *shape.last_mut().unwrap() = 1 + noise.below(SHORT_ROW);
            // Finite values: tract's kernels and libm disagree on what an infinite row gives.
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n)
                .map(|_| (noise.next() as f64 / u64::MAX as f64 * 60.0 - 30.0) as f32)
                .collect();
            let x = tensor1(&data).into_shape(&shape).unwrap();
            let op = Softmax::new(tvec![shape.len() - 1], None, SoftmaxKind::Softmax);
            let (tract, ours) = both(Box::new(op), &x, None);
            let (a, b) = (
                tract[0].try_as_plain_ram().unwrap(),
                ours[0].try_as_plain_ram().unwrap(),
            );
            for (a, b) in a
                .as_slice::<f32>()
                .unwrap()
                .iter()
                .zip(b.as_slice::<f32>().unwrap())
            {
                assert!(
                    (a - b).abs() <= 1e-6 + 1e-5 * a.abs(),
                    "{a} vs {b} in {x:?}"
                );
            }
        }
    }

    #[test]
    fn long_rows_and_other_kinds_keep_tracts_softmax() {
        let fact = f32::fact([4, SHORT_ROW + 1]);
        let op = Softmax::new(tvec![1], None, SoftmaxKind::Softmax);
        assert!(RowSoftmax::replacing(&op, &fact).is_none());
        let log = Softmax::new(tvec![1], None, SoftmaxKind::LogSoftmax);
        assert!(RowSoftmax::replacing(&log, &f32::fact([4, 3])).is_none());
        let not_last = Softmax::new(tvec![0], None, SoftmaxKind::Softmax);
        assert!(RowSoftmax::replacing(&not_last, &f32::fact([4, 3])).is_none());
        assert!(RowSoftmax::replacing(&op, &f32::fact([4, 3])).is_some());
    }
}
