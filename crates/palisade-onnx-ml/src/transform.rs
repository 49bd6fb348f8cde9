//! The post-transforms the ai.onnx.ml operators share, computed the way onnxruntime computes
//! them (in f32, with its logistic, softmax and probit formulas), so scores match bit for bit.

use crate::attrs::Attrs;
use tract_onnx::prelude::TractResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

impl PostTransform {
    pub(crate) fn read(attrs: &Attrs) -> TractResult<PostTransform> {
        match attrs.string("post_transform")?.as_deref() {
            None | Some("NONE") => Ok(PostTransform::None),
            Some("LOGISTIC") => Ok(PostTransform::Logistic),
            Some("SOFTMAX") => Ok(PostTransform::Softmax),
            Some("SOFTMAX_ZERO") => Ok(PostTransform::SoftmaxZero),
            // Refused rather than served approximately: onnxruntime's probit is its own erfinv
            // approximation, which differs from any exact one in the sixth digit.
            Some("PROBIT") => attrs.fail(
                "post_transform",
                "PROBIT is not served: its onnxruntime result cannot be reproduced exactly; export with NONE, LOGISTIC or SOFTMAX",
            ),
            Some(other) => attrs.fail(
                "post_transform",
                format!("'{other}' is not one of NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, PROBIT"),
            ),
        }
    }

    /// Applies the transform to a row of two or more scores, in place.
    pub(crate) fn apply(self, scores: &mut [f32]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::Softmax => softmax(scores),
            PostTransform::SoftmaxZero => softmax_zero(scores),
        }
    }
}

/// `1 / (1 + e^-x)`, computed on `|x|` so large inputs do not overflow.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

pub(crate) fn softmax(values: &mut [f32]) {
    let max = values
        .iter()
        .fold(-f32::MAX, |m, v| if *v > m { *v } else { m });
    let mut sum = 0.0f32;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    values.iter_mut().for_each(|v| *v /= sum);
}

/// Softmax that leaves (near-)zero scores at zero: a class no tree voted for gets no mass.
pub(crate) fn softmax_zero(values: &mut [f32]) {
    let max = values
        .iter()
        .fold(-f32::MAX, |m, v| if *v > m { *v } else { m });
    let exp_neg_max = (-max).exp();
    let mut sum = 0.0f32;
    for v in values.iter_mut() {
        if *v > 0.000_000_1 || *v < -0.000_000_1 {
            *v = (*v - max).exp();
            sum += *v;
        } else {
            *v *= exp_neg_max;
        }
    }
    values.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_is_symmetric_and_saturates_without_nan() {
        assert_eq!(logistic(0.0), 0.5);
        assert!((logistic(2.0) + logistic(-2.0) - 1.0).abs() < 1e-7);
        assert_eq!(logistic(1e30), 1.0);
        assert_eq!(logistic(-1e30), 0.0);
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_scores() {
        let mut v = [1000.0, 1001.0, 999.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[1] > v[0] && v[0] > v[2]);
    }
}
