//! LabelEncoder, OneHotEncoder and CategoryMapper: lookups from categories to numbers and back
//! (scikit-learn's OneHotEncoder and OrdinalEncoder, IsolationForest's path lengths). Defaults
//! and the shapes they produce are onnxruntime's.

use std::collections::HashMap;

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::{Attrs, TensorValues};
use crate::kernel::Kernel;
use crate::rows::{one_input, values};

/// A lookup key. Floats are keyed by their bits, `-0.0` as `0.0`; a NaN key is never stored,
/// so a NaN input finds nothing and gets the default, as in onnxruntime (NaN equals nothing).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Int(i64),
    Float(u32),
    Str(String),
}

fn float_key(v: f32) -> Key {
    Key::Float(if v.is_nan() {
        f32::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    })
}

#[derive(Clone, Debug)]
enum Values {
    Ints(Vec<i64>, i64),
    Floats(Vec<f32>, f32),
    Strings(Vec<String>, String),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Ints(v, _) => v.len(),
            Values::Floats(v, _) => v.len(),
            Values::Strings(v, _) => v.len(),
        }
    }

    fn datum_type(&self) -> DatumType {
        match self {
            Values::Ints(..) => DatumType::I64,
            Values::Floats(..) => DatumType::F32,
            Values::Strings(..) => DatumType::String,
        }
    }

    /// The output tensor for each input position's index into the values (`None`: default).
    fn tensor(&self, shape: &[usize], picks: &[Option<usize>]) -> TractResult<Tensor> {
        Ok(match self {
            Values::Ints(v, d) => Tensor::from_shape(shape, &picked(v, *d, picks))?,
            Values::Floats(v, d) => Tensor::from_shape(shape, &picked(v, *d, picks))?,
            Values::Strings(v, d) => {
                let s: Vec<String> = picks
                    .iter()
                    .map(|p| p.map_or_else(|| d.clone(), |i| v[i].clone()))
                    .collect();
                tract_ndarray::ArrayD::from_shape_vec(shape, s)?.into_tensor()
            }
        })
    }
}

fn picked<T: Copy>(values: &[T], default: T, picks: &[Option<usize>]) -> Vec<T> {
    picks
        .iter()
        .map(|p| p.map_or(default, |i| values[i]))
        .collect()
}

fn keys_of(x: &Tensor) -> TractResult<Vec<Key>> {
    Ok(match x.datum_type() {
        DatumType::I64 | DatumType::I32 | DatumType::TDim => {
            values::<i64>(x)?.iter().map(|v| Key::Int(*v)).collect()
        }
        DatumType::F32 => values::<f32>(x)?.iter().map(|v| float_key(*v)).collect(),
        DatumType::String => x
            .try_as_plain_ram()?
            .as_slice::<String>()?
            .iter()
            .map(|s| Key::Str(s.clone()))
            .collect(),
        other => bail!("cannot look up {other:?} values"),
    })
}

/// Maps keys to values; a key it does not know gets the default (LabelEncoder, CategoryMapper).
#[derive(Debug)]
pub(crate) struct Lookup {
    op: &'static str,
    index: HashMap<Key, usize>,
    values: Values,
}

fn lookup(op: &'static str, keys: Vec<Key>, values: Values) -> Box<dyn Kernel> {
    let nan = float_key(f32::NAN);
    let mut index = HashMap::with_capacity(keys.len());
    for (i, k) in keys.into_iter().enumerate() {
        if k != nan {
            index.entry(k).or_insert(i);
        }
    }
    Box::new(Lookup { op, index, values })
}

pub(crate) fn label_encoder(
    node: &NodeProto,
    inputs: &[&TypedFact],
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    if inputs.len() != 1 {
        return a.fail_node("needs exactly one input");
    }
    let input = inputs[0].datum_type;
    let (keys, values) = if let Some(classes) = a.strings("classes_strings")? {
        // Opset 1: strings to their index, or indices to their string.
        let default_int = a.int("default_int64")?.unwrap_or(-1);
        let default_string = a
            .string("default_string")?
            .unwrap_or_else(|| "_Unused".into());
        if input == DatumType::String {
            let n = classes.len() as i64;
            (
                classes.into_iter().map(Key::Str).collect::<Vec<_>>(),
                Values::Ints((0..n).collect(), default_int),
            )
        } else {
            let n = classes.len() as i64;
            (
                (0..n).map(Key::Int).collect(),
                Values::Strings(classes, default_string),
            )
        }
    } else {
        // Opset 4 lists keys and values as tensors; earlier opsets, as typed lists.
        let keys: Vec<Key> = if let Some(k) = a.tensor_values("keys_tensor")? {
            match k {
                TensorValues::Ints(k) => k.into_iter().map(Key::Int).collect(),
                TensorValues::Floats(k) => k.into_iter().map(float_key).collect(),
                TensorValues::Strings(k) => k.into_iter().map(Key::Str).collect(),
            }
        } else if let Some(k) = a.ints("keys_int64s")? {
            k.into_iter().map(Key::Int).collect()
        } else if let Some(k) = a.floats("keys_floats")? {
            k.into_iter().map(float_key).collect()
        } else if let Some(k) = a.strings("keys_strings")? {
            k.into_iter().map(Key::Str).collect()
        } else {
            return a.fail(
                "keys_int64s",
                "no keys (keys_tensor, keys_int64s, keys_floats or keys_strings)",
            );
        };
        let default = a.tensor_values("default_tensor")?;
        let values = match a.tensor_values("values_tensor")? {
            Some(TensorValues::Ints(v)) => Values::Ints(
                v,
                match default {
                    Some(TensorValues::Ints(d)) if d.len() == 1 => d[0],
                    None => -1,
                    _ => {
                        return a.fail("default_tensor", "must hold one value of the values' type")
                    }
                },
            ),
            Some(TensorValues::Floats(v)) => Values::Floats(
                v,
                match default {
                    Some(TensorValues::Floats(d)) if d.len() == 1 => d[0],
                    None => -0.0,
                    _ => {
                        return a.fail("default_tensor", "must hold one value of the values' type")
                    }
                },
            ),
            Some(TensorValues::Strings(v)) => Values::Strings(
                v,
                match default {
                    Some(TensorValues::Strings(d)) if d.len() == 1 => d[0].clone(),
                    None => "_Unused".into(),
                    _ => {
                        return a.fail("default_tensor", "must hold one value of the values' type")
                    }
                },
            ),
            None => {
                if let Some(v) = a.ints("values_int64s")? {
                    Values::Ints(v, a.int("default_int64")?.unwrap_or(-1))
                } else if let Some(v) = a.floats("values_floats")? {
                    Values::Floats(v, a.float("default_float")?.unwrap_or(-0.0))
                } else if let Some(v) = a.strings("values_strings")? {
                    Values::Strings(
                        v,
                        a.string("default_string")?
                            .unwrap_or_else(|| "_Unused".into()),
                    )
                } else {
                    return a.fail(
                        "values_int64s",
                        "no values (values_int64s, values_floats or values_strings)",
                    );
                }
            }
        };
        (keys, values)
    };
    a.same_len("values", values.len(), "keys", keys.len())?;
    let key_type_matches = keys.first().is_none_or(|k| match k {
        Key::Int(_) => matches!(input, DatumType::I64 | DatumType::I32 | DatumType::TDim),
        Key::Float(_) => input == DatumType::F32,
        Key::Str(_) => input == DatumType::String,
    });
    if !key_type_matches {
        return a.fail_node(format!("its keys do not have the input's type {input:?}"));
    }
    Ok(lookup("LabelEncoder", keys, values))
}

impl Kernel for Lookup {
    fn name(&self) -> &'static str {
        self.op
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self
            .values
            .datum_type()
            .fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let picks: Vec<Option<usize>> = keys_of(x)?
            .iter()
            .map(|k| self.index.get(k).copied())
            .collect();
        Ok(tvec!(self.values.tensor(x.shape(), &picks)?.into_tvalue()))
    }
}

/// One column per category: 1.0 where the value is that category. Unknown values give a row of
/// zeros, or an error when `zeros = 0`.
#[derive(Debug)]
pub(crate) struct OneHotEncoder {
    index: HashMap<Key, usize>,
    categories: usize,
    zeros: bool,
}

pub(crate) fn one_hot_encoder(
    node: &NodeProto,
    inputs: &[&TypedFact],
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let x = one_input(&a, inputs)?;
    let keys: Vec<Key> = match (a.ints("cats_int64s")?, a.strings("cats_strings")?) {
        (Some(i), None)
            if matches!(
                x.datum_type,
                DatumType::I64 | DatumType::I32 | DatumType::F32 | DatumType::F64
            ) =>
        {
            i.into_iter().map(Key::Int).collect()
        }
        (None, Some(s)) if x.datum_type == DatumType::String => {
            s.into_iter().map(Key::Str).collect()
        }
        (Some(_), Some(_)) => {
            return a.fail(
                "cats_strings",
                "both int and string categories are set; keep one",
            )
        }
        (None, None) => {
            return a.fail("cats_int64s", "no categories (cats_int64s or cats_strings)")
        }
        _ => {
            return a.fail_node(format!(
                "the categories do not have the input's type {:?}",
                x.datum_type
            ))
        }
    };
    let categories = keys.len();
    let mut index = HashMap::with_capacity(categories);
    for (i, k) in keys.into_iter().enumerate() {
        index.entry(k).or_insert(i);
    }
    Ok(Box::new(OneHotEncoder {
        index,
        categories,
        zeros: a.int("zeros")?.unwrap_or(1) != 0,
    }))
}

impl Kernel for OneHotEncoder {
    fn name(&self) -> &'static str {
        "OneHotEncoder"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.categories.into());
        Ok(tvec!(f32::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        // Floats are compared as the integers they truncate to, as onnxruntime does.
        let keys: Vec<Key> = match x.datum_type() {
            DatumType::F32 => values::<f32>(x)?
                .iter()
                .map(|v| Key::Int(*v as i64))
                .collect(),
            DatumType::F64 => values::<f64>(x)?
                .iter()
                .map(|v| Key::Int(*v as i64))
                .collect(),
            _ => keys_of(x)?,
        };
        let mut out = vec![0f32; keys.len() * self.categories];
        for (i, k) in keys.iter().enumerate() {
            match self.index.get(k) {
                Some(&c) => out[i * self.categories + c] = 1.0,
                None if self.zeros => {}
                None => bail!(
                    "OneHotEncoder met a category it does not know (and its zeros attribute is 0)"
                ),
            }
        }
        let mut shape = x.shape().to_vec();
        shape.push(self.categories);
        Ok(tvec!(Tensor::from_shape(&shape, &out)?.into_tvalue()))
    }
}

/// Strings to ints or ints to strings, through paired category lists.
pub(crate) fn category_mapper(
    node: &NodeProto,
    inputs: &[&TypedFact],
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let x = one_input(&a, inputs)?;
    let ints = a.ints_or_empty("cats_int64s")?;
    let strings = a.strings("cats_strings")?.unwrap_or_default();
    a.same_len("cats_strings", strings.len(), "cats_int64s", ints.len())?;
    let (keys, values): (Vec<Key>, Values) = match x.datum_type {
        DatumType::String => (
            strings.into_iter().map(Key::Str).collect(),
            Values::Ints(ints, a.int("default_int64")?.unwrap_or(-1)),
        ),
        DatumType::I64 | DatumType::I32 | DatumType::TDim => (
            ints.into_iter().map(Key::Int).collect(),
            Values::Strings(
                strings,
                a.string("default_string")?
                    .unwrap_or_else(|| "_Unused".into()),
            ),
        ),
        other => return a.fail_node(format!("input type {other:?} is not string or int64")),
    };
    Ok(lookup("CategoryMapper", keys, values))
}
