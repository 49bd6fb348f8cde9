//! The two float widths the tree kernels run in: f32 for float inputs, f64 for double inputs,
//! as onnxruntime does (thresholds, weights and sums all in the input's width).

use std::fmt::Debug;
use std::ops::{Add, Div, Neg};

pub(crate) trait Real:
    Copy
    + PartialOrd
    + Default
    + Debug
    + Send
    + Sync
    + Add<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + 'static
{
    fn from_f64(v: f64) -> Self;
    fn from_usize(v: usize) -> Self;
    fn to_f32(self) -> f32;
    fn is_nan(self) -> bool;
}

impl Real for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_usize(v: usize) -> Self {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Real for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_usize(v: usize) -> Self {
        v as f64
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}
