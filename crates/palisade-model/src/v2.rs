//! Open Inference Protocol (KServe V2) REST bodies: inference requests in JSON or with
//! Triton's binary tensor extension, and their responses.
//!
//! Decoding is bounded before it allocates: nesting depth is scanned on the raw bytes,
//! element counts are checked against the declared shape before any tensor is built, and
//! every error names the input and the field at fault.

use serde::Deserialize;
use serde_json::{Map, Value};
use tract_onnx::prelude::{tract_ndarray, tvec, Datum, DatumType, TValue, TVec, Tensor};

use crate::{DataType, TensorSpec};

/// Bounds a request must stay within.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_tensor_elements: usize,
    pub max_json_depth: usize,
}

const MAX_TENSORS: usize = 64;
const MAX_NAME_BYTES: usize = 256;
const MAX_ID_BYTES: usize = 256;
const MAX_RANK: usize = 16;

/// A request the codec refused, and why: the message names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub kind: DecodeFailure,
    pub message: String,
}

/// What kind of refusal a [`DecodeError`] is (the gate answers 400 or 413 from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeFailure {
    /// Malformed, or not what the model's signature asks for.
    Invalid,
    /// A size bound was hit (elements, nesting, tensors, names).
    TooLarge,
}

fn bad(message: impl Into<String>) -> DecodeError {
    DecodeError {
        kind: DecodeFailure::Invalid,
        message: message.into(),
    }
}

fn too_large(message: impl Into<String>) -> DecodeError {
    DecodeError {
        kind: DecodeFailure::TooLarge,
        message: message.into(),
    }
}

/// One decoded input tensor.
#[derive(Debug, Clone)]
pub struct InputTensor {
    pub name: String,
    pub datatype: DataType,
    pub tensor: Tensor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedOutput {
    pub name: String,
    /// Per-output `binary_data` parameter, if given.
    pub binary: Option<bool>,
}

#[derive(Debug)]
pub struct InferRequest {
    pub id: Option<String>,
    pub inputs: Vec<InputTensor>,
    /// `None`: all outputs, in the model's order.
    pub outputs: Option<Vec<RequestedOutput>>,
    /// Request-level `binary_data_output` parameter.
    pub binary_output: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<RawInput>,
    outputs: Option<Vec<RawOutput>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

/// True if JSON text nests arrays/objects deeper than `max`. Runs on raw bytes, before any
/// parser recurses.
pub fn json_too_deep(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Decode an inference request body. `json_len` is the `Inference-Header-Content-Length`
/// header: the JSON part's length when binary tensor data follows it.
pub fn decode_request(
    body: &[u8],
    json_len: Option<usize>,
    limits: DecodeLimits,
) -> Result<InferRequest, DecodeError> {
    let (json, mut binary) = match json_len {
        Some(n) if n > body.len() => {
            return Err(bad(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            )))
        }
        Some(n) => body.split_at(n),
        None => (body, &[][..]),
    };
    if json_too_deep(json, limits.max_json_depth) {
        return Err(bad(format!(
            "JSON nesting is deeper than the limit of {}",
            limits.max_json_depth
        )));
    }
    let raw: RawRequest = serde_json::from_slice(json)
        .map_err(|e| bad(format!("malformed inference request: {e}")))?;
    if raw.inputs.is_empty() || raw.inputs.len() > MAX_TENSORS {
        return Err(bad(format!(
            "`inputs` must hold 1 to {MAX_TENSORS} tensors"
        )));
    }
    if raw.id.as_ref().is_some_and(|id| id.len() > MAX_ID_BYTES) {
        return Err(bad(format!("`id` is longer than {MAX_ID_BYTES} bytes")));
    }
    reject_unsupported_parameters("parameters", &raw.parameters)?;
    let binary_output =
        bool_param(&raw.parameters, "binary_data_output", "parameters")?.unwrap_or(false);

    let mut inputs = Vec::with_capacity(raw.inputs.len());
    let mut budget = limits.max_tensor_elements;
    for (ix, input) in raw.inputs.into_iter().enumerate() {
        let tensor = decode_input(ix, input, &mut binary, &mut budget, limits)?;
        if inputs.iter().any(|t: &InputTensor| t.name == tensor.name) {
            return Err(bad(format!(
                "inputs[{ix}]: input '{}' is given twice",
                tensor.name
            )));
        }
        inputs.push(tensor);
    }
    if !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data follow the tensors that claim any",
            binary.len()
        )));
    }

    let outputs = match raw.outputs {
        None => None,
        Some(list) => {
            if list.len() > MAX_TENSORS {
                return Err(bad(format!(
                    "`outputs` may name at most {MAX_TENSORS} tensors"
                )));
            }
            let mut out = Vec::with_capacity(list.len());
            for (ix, o) in list.into_iter().enumerate() {
                let at = format!("outputs[{ix}]");
                reject_unsupported_parameters(&at, &o.parameters)?;
                let binary = bool_param(&o.parameters, "binary_data", &at)?;
                out.push(RequestedOutput {
                    name: o.name,
                    binary,
                });
            }
            Some(out)
        }
    };
    Ok(InferRequest {
        id: raw.id,
        inputs,
        outputs,
        binary_output,
    })
}

fn reject_unsupported_parameters(at: &str, params: &Map<String, Value>) -> Result<(), DecodeError> {
    if let Some(k) = params.keys().find(|k| k.starts_with("shared_memory")) {
        return Err(bad(format!("{at}.parameters.{k}: shared-memory tensors are not supported; send the data in the body")));
    }
    Ok(())
}

fn bool_param(
    params: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<bool>, DecodeError> {
    match params.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("{at}.parameters.{key} must be true or false"))),
    }
}

fn decode_input(
    ix: usize,
    input: RawInput,
    binary: &mut &[u8],
    budget: &mut usize,
    limits: DecodeLimits,
) -> Result<InputTensor, DecodeError> {
    let at = format!("inputs[{ix}] ('{}')", truncate(&input.name));
    if input.name.is_empty() || input.name.len() > MAX_NAME_BYTES {
        return Err(bad(format!(
            "inputs[{ix}]: `name` must be 1 to {MAX_NAME_BYTES} bytes"
        )));
    }
    reject_unsupported_parameters(&at, &input.parameters)?;
    let datatype: DataType = input.datatype.parse().map_err(|_| {
        bad(format!(
            "{at}: unknown datatype '{}'; use one of BOOL, UINT8..UINT64, INT8..INT64, FP32, FP64, BYTES",
            truncate(&input.datatype)
        ))
    })?;
    if input.shape.len() > MAX_RANK {
        return Err(bad(format!(
            "{at}: shape has {} dimensions, over the limit of {MAX_RANK}",
            input.shape.len()
        )));
    }
    let mut shape = Vec::with_capacity(input.shape.len());
    let mut elements: usize = 1;
    for &d in &input.shape {
        let d = usize::try_from(d).map_err(|_| {
            bad(format!(
                "{at}: shape {:?} has a negative dimension",
                input.shape
            ))
        })?;
        shape.push(d);
        elements = elements
            .checked_mul(d)
            .filter(|&n| n <= *budget)
            .ok_or_else(|| {
                too_large(format!(
                    "{at}: shape {:?} is over the limit of {} tensor elements per request",
                    input.shape, limits.max_tensor_elements
                ))
            })?;
    }
    *budget -= elements;

    let binary_size = match input.parameters.get("binary_data_size") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "{at}.parameters.binary_data_size must be a non-negative integer"
                    ))
                })?,
        ),
    };
    let tensor = match (binary_size, input.data) {
        (Some(_), Some(_)) => {
            return Err(bad(format!(
                "{at}: give either `data` or binary_data_size, not both"
            )))
        }
        (None, None) => return Err(bad(format!("{at}: `data` is missing"))),
        (Some(size), None) => {
            if size > binary.len() {
                return Err(bad(format!(
                    "{at}: binary_data_size is {size} but only {} bytes of binary data remain",
                    binary.len()
                )));
            }
            let (chunk, rest) = binary.split_at(size);
            *binary = rest;
            from_binary(&at, datatype, &shape, elements, chunk)?
        }
        (None, Some(data)) => from_json(&at, datatype, &shape, elements, data)?,
    };
    Ok(InputTensor {
        name: input.name,
        datatype,
        tensor,
    })
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn from_json(
    at: &str,
    dt: DataType,
    shape: &[usize],
    elements: usize,
    data: Value,
) -> Result<Tensor, DecodeError> {
    let mut flat = Vec::with_capacity(elements.min(1 << 16));
    flatten(data, &mut flat, elements).map_err(|()| {
        bad(format!(
            "{at}: `data` holds more than the {elements} elements its shape {shape:?} declares"
        ))
    })?;
    if flat.len() != elements {
        return Err(bad(format!(
            "{at}: shape {shape:?} needs {elements} elements but `data` holds {}",
            flat.len()
        )));
    }
    fn collect<T: Datum>(
        at: &str,
        dt: DataType,
        shape: &[usize],
        flat: Vec<Value>,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Result<Tensor, DecodeError> {
        let mut v = Vec::with_capacity(flat.len());
        for (i, x) in flat.iter().enumerate() {
            v.push(f(x).ok_or_else(|| {
                let shown = if x.is_number() {
                    x.to_string()
                } else {
                    json_kind(x).to_string()
                };
                bad(format!("{at}: element {i} ({shown}) is not a valid {dt}"))
            })?);
        }
        tensor_from_vec(shape, v).map_err(|e| bad(format!("{at}: {e}")))
    }
    fn int<T: TryFrom<i64> + TryFrom<u64>>(x: &Value) -> Option<T> {
        match x {
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => T::try_from(i).ok(),
                (None, Some(u)) => T::try_from(u).ok(),
                _ => None,
            },
            _ => None,
        }
    }
    let finite_f64 = |x: &Value| x.as_f64().filter(|f| f.is_finite());
    match dt {
        DataType::Bool => collect(at, dt, shape, flat, Value::as_bool),
        DataType::Uint8 => collect(at, dt, shape, flat, int::<u8>),
        DataType::Uint16 => collect(at, dt, shape, flat, int::<u16>),
        DataType::Uint32 => collect(at, dt, shape, flat, int::<u32>),
        DataType::Uint64 => collect(at, dt, shape, flat, int::<u64>),
        DataType::Int8 => collect(at, dt, shape, flat, int::<i8>),
        DataType::Int16 => collect(at, dt, shape, flat, int::<i16>),
        DataType::Int32 => collect(at, dt, shape, flat, int::<i32>),
        DataType::Int64 => collect(at, dt, shape, flat, int::<i64>),
        DataType::Fp32 => collect(at, dt, shape, flat, |x| {
            finite_f64(x).map(|f| f as f32).filter(|f| f.is_finite())
        }),
        DataType::Fp64 => collect(at, dt, shape, flat, finite_f64),
        DataType::Bytes => collect(at, dt, shape, flat, |x| x.as_str().map(str::to_string)),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Row-major flattening of nested arrays; `Err` once more than `max` scalars are seen.
fn flatten(v: Value, out: &mut Vec<Value>, max: usize) -> Result<(), ()> {
    match v {
        Value::Array(items) => {
            for item in items {
                flatten(item, out, max)?;
            }
            Ok(())
        }
        scalar => {
            if out.len() >= max {
                return Err(());
            }
            out.push(scalar);
            Ok(())
        }
    }
}

fn from_binary(
    at: &str,
    dt: DataType,
    shape: &[usize],
    elements: usize,
    bytes: &[u8],
) -> Result<Tensor, DecodeError> {
    let Some(size) = dt.element_size() else {
        return strings_from_binary(at, shape, elements, bytes);
    };
    if bytes.len() != elements * size {
        return Err(bad(format!(
            "{at}: binary_data_size is {} but shape {shape:?} of {dt} needs {} bytes",
            bytes.len(),
            elements * size
        )));
    }
    macro_rules! le {
        ($t:ty) => {{
            let v: Vec<$t> = bytes
                .chunks_exact(size)
                .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect();
            v
        }};
    }
    let tensor = match dt {
        DataType::Bool => {
            let mut v = Vec::with_capacity(elements);
            for (i, &b) in bytes.iter().enumerate() {
                v.push(match b {
                    0 => false,
                    1 => true,
                    _ => {
                        return Err(bad(format!(
                            "{at}: element {i} is byte {b}, not a BOOL (0 or 1)"
                        )))
                    }
                });
            }
            tensor_from_vec(shape, v)
        }
        DataType::Uint8 => tensor_from_vec(shape, bytes.to_vec()),
        DataType::Int8 => tensor_from_vec(shape, bytes.iter().map(|&b| b as i8).collect()),
        DataType::Uint16 => tensor_from_vec(shape, le!(u16)),
        DataType::Int16 => tensor_from_vec(shape, le!(i16)),
        DataType::Uint32 => tensor_from_vec(shape, le!(u32)),
        DataType::Int32 => tensor_from_vec(shape, le!(i32)),
        DataType::Uint64 => tensor_from_vec(shape, le!(u64)),
        DataType::Int64 => tensor_from_vec(shape, le!(i64)),
        DataType::Fp32 => {
            let v = le!(f32);
            if let Some(i) = v.iter().position(|f| f.is_infinite()) {
                return Err(bad(format!(
                    "{at}: element {i} is {}, not a finite number",
                    v[i]
                )));
            }
            tensor_from_vec(shape, v)
        }
        DataType::Fp64 => {
            let v = le!(f64);
            if let Some(i) = v.iter().position(|f| f.is_infinite()) {
                return Err(bad(format!(
                    "{at}: element {i} is {}, not a finite number",
                    v[i]
                )));
            }
            tensor_from_vec(shape, v)
        }
        // Length-prefixed, handled above.
        DataType::Bytes => return strings_from_binary(at, shape, elements, bytes),
    };
    tensor.map_err(|e| bad(format!("{at}: {e}")))
}

fn tensor_from_vec<T: Datum>(shape: &[usize], v: Vec<T>) -> Result<Tensor, String> {
    tract_ndarray::ArrayD::from_shape_vec(shape, v)
        .map(Tensor::from)
        .map_err(|e| e.to_string())
}

fn slice<T: Datum>(t: &Tensor) -> Result<&[T], String> {
    t.try_as_plain_ram()
        .and_then(|v| v.as_slice::<T>())
        .map_err(|e| e.to_string())
}

fn strings_from_binary(
    at: &str,
    shape: &[usize],
    elements: usize,
    mut bytes: &[u8],
) -> Result<Tensor, DecodeError> {
    let mut v = Vec::with_capacity(elements.min(1 << 16));
    for i in 0..elements {
        let (len, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| bad(format!("{at}: binary data ends before BYTES element {i}")))?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(bad(format!(
                "{at}: BYTES element {i} claims {len} bytes, more than remain"
            )));
        }
        let (s, rest) = rest.split_at(len);
        v.push(
            std::str::from_utf8(s)
                .map_err(|_| bad(format!("{at}: BYTES element {i} is not UTF-8 text")))?
                .to_string(),
        );
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(bad(format!(
            "{at}: {} bytes left over after {elements} BYTES elements",
            bytes.len()
        )));
    }
    tensor_from_vec(shape, v).map_err(|e| bad(format!("{at}: {e}")))
}

/// Check decoded inputs against a model's signature and order them for the runtime.
/// Whether a model reads NaN as a missing value (an `Imputer` of NaN, or trees that route NaN):
/// only then may a binary FP32/FP64 input hold NaN. Elsewhere NaN is refused, never computed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingValues {
    Refused,
    ReadAsNaN,
}

pub fn bind_inputs(
    model: &str,
    mut inputs: Vec<InputTensor>,
    spec: &[TensorSpec],
    missing: MissingValues,
) -> Result<TVec<TValue>, DecodeError> {
    if let Some(extra) = inputs
        .iter()
        .find(|i| !spec.iter().any(|s| s.name == i.name))
    {
        let known: Vec<&str> = spec.iter().map(|s| s.name.as_str()).collect();
        return Err(bad(format!(
            "model '{model}' has no input '{}'; its inputs are: {}",
            truncate(&extra.name),
            known.join(", ")
        )));
    }
    let mut bound = tvec![];
    for s in spec {
        let pos = inputs
            .iter()
            .position(|i| i.name == s.name)
            .ok_or_else(|| bad(format!("input '{}' of model '{model}' is missing", s.name)))?;
        let input = inputs.swap_remove(pos);
        if input.datatype != s.datatype {
            return Err(bad(format!(
                "input '{}': datatype {} given, the model takes {}",
                s.name, input.datatype, s.datatype
            )));
        }
        let shape = input.tensor.shape();
        let fits = shape.len() == s.shape.len()
            && s.shape
                .iter()
                .zip(shape)
                .all(|(&want, &got)| want < 0 || want as usize == got);
        if !fits {
            return Err(bad(format!(
                "input '{}': shape {:?} given, the model takes {:?} (-1 is any size)",
                s.name, shape, s.shape
            )));
        }
        if shape.contains(&0) {
            return Err(bad(format!(
                "input '{}': shape {:?} holds no elements",
                s.name, shape
            )));
        }
        if missing == MissingValues::Refused {
            if let Some(i) = first_nan(&input.tensor) {
                return Err(bad(format!(
                    "inputs '{}': element {i} is NaN, not a finite number (model '{model}' has no missing-value handling: no Imputer of NaN, no trees that route NaN)",
                    s.name
                )));
            }
        }
        bound.push(input.tensor.into());
    }
    Ok(bound)
}

fn first_nan(t: &Tensor) -> Option<usize> {
    match t.datum_type() {
        DatumType::F32 => slice::<f32>(t).ok()?.iter().position(|f| f.is_nan()),
        DatumType::F64 => slice::<f64>(t).ok()?.iter().position(|f| f.is_nan()),
        _ => None,
    }
}

/// One output tensor to encode.
pub struct OutputTensor<'a> {
    pub name: &'a str,
    pub tensor: &'a Tensor,
    pub binary: bool,
}

/// An encoded response: the body, and the JSON part's length when binary data follows it
/// (for the `Inference-Header-Content-Length` header).
pub struct EncodedResponse {
    pub body: Vec<u8>,
    pub json_len: Option<usize>,
}

/// Encode an inference response. Fails only for tensor types V2 cannot carry.
pub fn encode_response(
    model_name: &str,
    model_version: &str,
    id: Option<&str>,
    outputs: &[OutputTensor<'_>],
) -> Result<EncodedResponse, String> {
    let mut json = Vec::with_capacity(256);
    let mut binary = Vec::new();
    json.extend_from_slice(b"{\"model_name\":");
    write_json(&mut json, &model_name);
    json.extend_from_slice(b",\"model_version\":");
    write_json(&mut json, &model_version);
    if let Some(id) = id {
        json.extend_from_slice(b",\"id\":");
        write_json(&mut json, &id);
    }
    json.extend_from_slice(b",\"outputs\":[");
    for (i, out) in outputs.iter().enumerate() {
        let dt = DataType::from_datum(out.tensor.datum_type()).ok_or_else(|| {
            format!(
                "output '{}' has type {:?}, which V2 cannot carry",
                out.name,
                out.tensor.datum_type()
            )
        })?;
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(b"{\"name\":");
        write_json(&mut json, &out.name);
        json.extend_from_slice(b",\"datatype\":\"");
        json.extend_from_slice(dt.as_str().as_bytes());
        json.extend_from_slice(b"\",\"shape\":");
        write_json(&mut json, &out.tensor.shape());
        if out.binary {
            let start = binary.len();
            write_binary(&mut binary, out.tensor)?;
            json.extend_from_slice(
                format!(
                    ",\"parameters\":{{\"binary_data_size\":{}}}}}",
                    binary.len() - start
                )
                .as_bytes(),
            );
        } else {
            json.extend_from_slice(b",\"data\":");
            write_json_data(&mut json, out.tensor)?;
            json.push(b'}');
        }
    }
    json.extend_from_slice(b"]}");
    if binary.is_empty() && !outputs.iter().any(|o| o.binary) {
        return Ok(EncodedResponse {
            body: json,
            json_len: None,
        });
    }
    let json_len = json.len();
    json.extend_from_slice(&binary);
    Ok(EncodedResponse {
        body: json,
        json_len: Some(json_len),
    })
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Serializing strings, numbers and slices of them into a Vec cannot fail.
    let _ = serde_json::to_writer(out, v);
}

fn write_json_data(out: &mut Vec<u8>, t: &Tensor) -> Result<(), String> {
    match t.datum_type() {
        DatumType::Bool => write_json(out, slice::<bool>(t)?),
        DatumType::U8 => write_json(out, slice::<u8>(t)?),
        DatumType::U16 => write_json(out, slice::<u16>(t)?),
        DatumType::U32 => write_json(out, slice::<u32>(t)?),
        DatumType::U64 => write_json(out, slice::<u64>(t)?),
        DatumType::I8 => write_json(out, slice::<i8>(t)?),
        DatumType::I16 => write_json(out, slice::<i16>(t)?),
        DatumType::I32 => write_json(out, slice::<i32>(t)?),
        DatumType::I64 => write_json(out, slice::<i64>(t)?),
        DatumType::F32 => write_json(out, slice::<f32>(t)?),
        DatumType::F64 => write_json(out, slice::<f64>(t)?),
        DatumType::String => write_json(out, slice::<String>(t)?),
        other => return Err(format!("type {other:?} cannot be written as V2 JSON")),
    }
    Ok(())
}

fn write_binary(out: &mut Vec<u8>, t: &Tensor) -> Result<(), String> {
    macro_rules! le {
        ($t:ty) => {
            for x in slice::<$t>(t)? {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match t.datum_type() {
        DatumType::Bool => out.extend(slice::<bool>(t)?.iter().map(|&b| b as u8)),
        DatumType::U8 => le!(u8),
        DatumType::U16 => le!(u16),
        DatumType::U32 => le!(u32),
        DatumType::U64 => le!(u64),
        DatumType::I8 => le!(i8),
        DatumType::I16 => le!(i16),
        DatumType::I32 => le!(i32),
        DatumType::I64 => le!(i64),
        DatumType::F32 => le!(f32),
        DatumType::F64 => le!(f64),
        DatumType::String => {
            for s in slice::<String>(t)? {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        other => {
            return Err(format!(
                "type {other:?} cannot be written as V2 binary data"
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
