//! ReduceLogSumExp that does not overflow. tract computes `ln(Σ exp(x))` as written: a
//! Gaussian naive Bayes scoring a row far from every class has joint log-likelihoods around
//! -1e6, every `exp` underflows to 0, the log-sum is -inf and the probabilities NaN, where
//! onnxruntime (and scikit-learn) subtract the maximum first and answer. Nearer the classes,
//! `exp` lands in subnormals and the naive form loses digits silently. This computes
//! `m + ln(Σ exp(x - m))` with `m` the maximum, as onnxruntime does.

use tract_hir::internal::*;
use tract_hir::tract_num_traits::Float;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;

#[derive(Debug)]
pub(crate) struct LogSumExp {
    /// Sorted, non-negative, without repeats; every axis when the node names none.
    axes: Vec<usize>,
    keep_dims: bool,
}

/// Builds the kernel from the node: `axes` is an attribute up to opset 17 and a constant
/// second input from opset 18 (a computed one is refused).
pub(crate) fn log_sum_exp(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let attrs = Attrs::new(node);
    let [x, axes_input @ ..] = inputs else {
        return attrs.fail_node("no input (one, and axes from opset 18, are served)");
    };
    if axes_input.len() > 1 {
        return attrs.fail_node(format!("{} inputs (at most 2 are served)", inputs.len()));
    }
    if !matches!(x.datum_type, DatumType::F32 | DatumType::F64) {
        return attrs.fail_node(format!(
            "input of type {:?} (float and double are served)",
            x.datum_type
        ));
    }
    let asked: Vec<i64> = match axes_input.first() {
        Some(axes) => match &axes.konst {
            Some(t) => t
                .cast_to::<i64>()?
                .try_as_plain_ram()?
                .as_slice::<i64>()?
                .to_vec(),
            None => {
                return attrs
                    .fail_node("axes computed by the graph (only constant axes are served)")
            }
        },
        None => attrs.ints_or_empty("axes")?,
    };
    let rank = x.rank() as i64;
    let mut axes = Vec::with_capacity(asked.len());
    for a in &asked {
        let axis = if *a < 0 { a + rank } else { *a };
        if !(0..rank).contains(&axis) {
            return attrs.fail("axes", format!("axis {a} is outside rank {rank}"));
        }
        axes.push(axis as usize);
    }
    axes.sort_unstable();
    axes.dedup();
    let no_op = attrs.int("noop_with_empty_axes")?.unwrap_or(0) != 0;
    if axes.is_empty() && !no_op {
        axes = (0..x.rank()).collect();
    }
    Ok(Box::new(LogSumExp {
        axes,
        keep_dims: attrs.int("keepdims")?.unwrap_or(1) != 0,
    }))
}

impl LogSumExp {
    /// The output shape with the reduced axes kept as 1, whatever `keep_dims` says.
    fn kept<D: Clone + From<usize>>(&self, shape: &[D]) -> TVec<D> {
        let one = D::from(1);
        shape
            .iter()
            .enumerate()
            .map(|(ax, d)| {
                if self.axes.contains(&ax) {
                    one.clone()
                } else {
                    d.clone()
                }
            })
            .collect()
    }

    fn output_shape<D: Clone + From<usize>>(&self, shape: &[D]) -> TVec<D> {
        if self.keep_dims {
            return self.kept(shape);
        }
        shape
            .iter()
            .enumerate()
            .filter(|(ax, _)| !self.axes.contains(ax))
            .map(|(_, d)| d.clone())
            .collect()
    }

    fn run<T: Float + Datum>(&self, x: &[T], shape: &[usize]) -> Vec<T> {
        let kept = self.kept(shape);
        let cells: usize = kept.iter().product();
        // For each input element, the output cell it reduces into (row-major over `kept`).
        let mut strides = vec![0usize; shape.len()];
        let mut stride = 1;
        for ax in (0..shape.len()).rev() {
            if !self.axes.contains(&ax) {
                strides[ax] = stride;
            }
            stride *= kept[ax];
        }
        let mut coords = vec![0usize; shape.len()];
        let mut cell_of = Vec::with_capacity(x.len());
        for _ in 0..x.len() {
            cell_of.push(
                coords
                    .iter()
                    .zip(&strides)
                    .map(|(c, s)| c * s)
                    .sum::<usize>(),
            );
            for ax in (0..shape.len()).rev() {
                coords[ax] += 1;
                if coords[ax] < shape[ax] {
                    break;
                }
                coords[ax] = 0;
            }
        }
        let mut max = vec![T::neg_infinity(); cells];
        for (v, &c) in x.iter().zip(&cell_of) {
            if *v > max[c] || v.is_nan() {
                max[c] = *v;
            }
        }
        let mut sum = vec![T::zero(); cells];
        for (v, &c) in x.iter().zip(&cell_of) {
            if max[c].is_finite() {
                sum[c] = sum[c] + (*v - max[c]).exp();
            }
        }
        // A cell whose maximum is ±inf or NaN is that value: -inf for all -inf (ln 0), +inf
        // as soon as one element is, NaN as soon as one is.
        max.iter()
            .zip(&sum)
            .map(|(m, s)| if m.is_finite() { *m + s.ln() } else { *m })
            .collect()
    }
}

impl Kernel for LogSumExp {
    fn name(&self) -> &'static str {
        "ReduceLogSumExp"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = self.output_shape(&inputs[0].shape.to_tvec());
        Ok(tvec!(inputs[0].datum_type.fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let shape = inputs[0].shape();
        let x = inputs[0].try_as_plain_ram()?;
        let out = match inputs[0].datum_type() {
            DatumType::F32 => tensor1(&self.run(x.as_slice::<f32>()?, shape)),
            DatumType::F64 => tensor1(&self.run(x.as_slice::<f64>()?, shape)),
            dt => bail!("ReduceLogSumExp of {dt:?} is not supported"),
        };
        Ok(tvec!(out
            .into_shape(&self.output_shape(shape))?
            .into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ln Σ exp` in f64 the long way, over the cells `kernel` reduces into.
    fn reference(kernel: &LogSumExp, x: &[f64], shape: &[usize]) -> Vec<f64> {
        let kept = kernel.kept(shape);
        let cells: usize = kept.iter().product();
        let mut groups = vec![Vec::new(); cells];
        for (i, v) in x.iter().enumerate() {
            let (mut rest, mut cell, mut stride) = (i, 0, 1);
            for ax in (0..shape.len()).rev() {
                let c = rest % shape[ax];
                rest /= shape[ax];
                if !kernel.axes.contains(&ax) {
                    cell += c * stride;
                }
                stride *= kept[ax];
            }
            groups[cell].push(*v);
        }
        groups
            .iter()
            .map(|g| {
                let m = g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                m + g.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
            })
            .collect()
    }

    #[test]
    fn far_below_zero_it_still_answers() {
        // Naive ln Σ exp gives -inf here; scikit-learn's answer is -1e6 + ln 2.
        let k = LogSumExp {
            axes: vec![1],
            keep_dims: true,
        };
        let out = k.run(&[-1e6f32, -1e6, -2e6, -3e6], &[2, 2]);
        assert_eq!(out, vec![-1e6 + 2f32.ln(), -2e6]);
    }

    #[test]
    fn every_axis_set_and_shape_matches_the_long_way() {
        let mut seed = 5u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..500 {
            let rank = 1 + next() % 3;
            let shape: Vec<usize> = (0..rank).map(|_| 1 + next() % 4).collect();
            let axes: Vec<usize> = (0..rank).filter(|_| next() % 2 == 0).collect();
            let axes = if axes.is_empty() {
                (0..rank).collect()
            } else {
                axes
            };
            let n: usize = shape.iter().product();
            let scale = [1.0, 100.0, 1e6][next() % 3];
            let x: Vec<f64> = (0..n)
                .map(|_| (next() % 2001) as f64 / 1000.0 * scale - scale)
                .collect();
            let k = LogSumExp {
                axes,
                keep_dims: next() % 2 == 0,
            };
            let (got, want) = (k.run(&x, &shape), reference(&k, &x, &shape));
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "{g} vs {w} for {x:?} {shape:?} {:?}",
                    k.axes
                );
            }
        }
    }

    #[test]
    fn infinite_and_nan_cells_stay_what_they_are() {
        let k = LogSumExp {
            axes: vec![1],
            keep_dims: false,
        };
        let inf = f32::INFINITY;
        let out = k.run(&[-inf, -inf, 1.0, inf, f32::NAN, 0.0], &[3, 2]);
        assert_eq!(out[..2], [-inf, inf]);
        assert!(out[2].is_nan());
    }
}
