use super::*;

const LIMITS: DecodeLimits = DecodeLimits {
    max_tensor_elements: 1000,
    max_json_depth: 8,
};

fn decode(json: &str) -> Result<InferRequest, DecodeError> {
    decode_request(json.as_bytes(), None, LIMITS)
}

fn iris_spec() -> Vec<TensorSpec> {
    vec![TensorSpec {
        name: "input".into(),
        datatype: DataType::Fp32,
        shape: vec![-1, 4],
    }]
}

#[test]
fn flat_and_nested_data_decode_the_same() {
    let flat = decode(r#"{"id":"a","inputs":[{"name":"input","shape":[2,2],"datatype":"FP32","data":[1,2,3,4]}]}"#).unwrap();
    let nested = decode(
        r#"{"inputs":[{"name":"input","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]}"#,
    )
    .unwrap();
    assert_eq!(flat.id.as_deref(), Some("a"));
    assert_eq!(flat.inputs[0].tensor, nested.inputs[0].tensor);
    assert_eq!(
        flat.inputs[0]
            .tensor
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap(),
        &[1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn every_datatype_decodes_from_json() {
    for (dt, data) in [
        ("BOOL", "[true,false]"),
        ("UINT8", "[0,255]"),
        ("UINT16", "[0,65535]"),
        ("UINT32", "[0,4294967295]"),
        ("UINT64", "[0,18446744073709551615]"),
        ("INT8", "[-128,127]"),
        ("INT16", "[-32768,32767]"),
        ("INT32", "[-1,1]"),
        ("INT64", "[-9223372036854775808,1]"),
        ("FP32", "[0.5,-1e10]"),
        ("FP64", "[0.5,1e300]"),
        ("BYTES", "[\"a\",\"b\"]"),
    ] {
        let r = decode(&format!(
            r#"{{"inputs":[{{"name":"x","shape":[2],"datatype":"{dt}","data":{data}}}]}}"#
        ));
        let r = r.unwrap_or_else(|e| panic!("{dt}: {e}"));
        assert_eq!(r.inputs[0].datatype.as_str(), dt);
        assert_eq!(r.inputs[0].tensor.shape(), &[2]);
    }
}

#[test]
fn out_of_range_and_wrong_kind_values_name_the_element() {
    let e = decode(r#"{"inputs":[{"name":"x","shape":[2],"datatype":"UINT8","data":[1,256]}]}"#)
        .unwrap_err();
    assert!(
        e.message.contains("element 1") && e.message.contains("UINT8"),
        "{e}"
    );
    let e = decode(r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["1"]}]}"#)
        .unwrap_err();
    assert!(e.message.contains("a string"), "{e}");
    let e = decode(r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1e39]}]}"#)
        .unwrap_err();
    assert!(e.message.contains("FP32"), "{e}");
    let e = decode(r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[NaN]}]}"#)
        .unwrap_err();
    assert_eq!(e.kind, DecodeFailure::Invalid);
}

#[test]
fn limits_are_enforced_before_allocation() {
    let e = decode(r#"{"inputs":[{"name":"x","shape":[100000000000,100000000000],"datatype":"FP32","data":[1]}]}"#).unwrap_err();
    assert_eq!(e.kind, DecodeFailure::TooLarge);
    let e = decode(r#"{"inputs":[{"name":"x","shape":[1001],"datatype":"FP32","data":[1]}]}"#)
        .unwrap_err();
    assert_eq!(e.kind, DecodeFailure::TooLarge);
    let deep = format!(
        r#"{{"inputs":[{{"name":"x","shape":[1],"datatype":"FP32","data":{}1{}}}]}}"#,
        "[".repeat(20),
        "]".repeat(20)
    );
    let e = decode(&deep).unwrap_err();
    assert!(e.message.contains("nesting"), "{e}");
    let e = decode(r#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#)
        .unwrap_err();
    assert!(e.message.contains("negative"), "{e}");
}

#[test]
fn depth_scan_ignores_brackets_in_strings() {
    assert!(!json_too_deep(br#"{"a":"[[[[[[[[[[[[[[[[\"[["}"#, 2));
    assert!(json_too_deep(b"[[[]]]", 2));
    assert!(!json_too_deep(b"[[]][[]]", 2));
}

#[test]
fn element_count_mismatch_and_unknown_fields_are_named() {
    let e =
        decode(r#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}"#)
            .unwrap_err();
    assert!(
        e.message.contains("inputs[0] ('input')") && e.message.contains("holds 3"),
        "{e}"
    );
    let e = decode(r#"{"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":[1,2,3]}]}"#)
        .unwrap_err();
    assert!(e.message.contains("more than"), "{e}");
    let e = decode(r#"{"inputs":[],"colour":1}"#).unwrap_err();
    assert!(e.message.contains("colour"), "{e}");
    let e = decode(r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]}"#)
        .unwrap_err();
    assert!(e.message.contains("FP16"), "{e}");
}

#[test]
fn binary_extension_round_trips() {
    let header = r#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}},{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}],"parameters":{"binary_data_output":true}}"#;
    let mut body = header.as_bytes().to_vec();
    for f in [1.0f32, 2.0, 3.0, 4.0] {
        body.extend_from_slice(&f.to_le_bytes());
    }
    body.extend_from_slice(&2u32.to_le_bytes());
    body.extend_from_slice(b"hi");
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(b"!");
    let r = decode_request(&body, Some(header.len()), LIMITS).unwrap();
    assert!(r.binary_output);
    assert_eq!(
        r.inputs[0]
            .tensor
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap(),
        &[1.0, 2.0, 3.0, 4.0]
    );
    assert_eq!(
        r.inputs[1]
            .tensor
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<String>()
            .unwrap(),
        &["hi".to_string(), "!".to_string()]
    );

    // Trailing bytes nobody claims, and too few bytes, are both errors.
    let mut extra = body.clone();
    extra.push(0);
    assert!(decode_request(&extra, Some(header.len()), LIMITS)
        .unwrap_err()
        .message
        .contains("follow"));
    assert!(decode_request(&body[..body.len() - 3], Some(header.len()), LIMITS).is_err());
    assert!(decode_request(&body, Some(body.len() + 1), LIMITS).is_err());
}

#[test]
fn binary_infinities_are_refused_and_nan_only_where_the_model_reads_it() {
    let header = r#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#;
    let body = |x: f32| {
        let mut body = header.as_bytes().to_vec();
        for v in [1.0, x, 2.0, 3.0f32] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body
    };
    for inf in [f32::INFINITY, f32::NEG_INFINITY] {
        let e = decode_request(&body(inf), Some(header.len()), LIMITS).unwrap_err();
        assert!(e.message.contains("not a finite number"), "{e}");
    }
    let nan = body(f32::NAN);
    let r = decode_request(&nan, Some(header.len()), LIMITS).unwrap();
    let e = bind_inputs("iris", r.inputs, &iris_spec(), MissingValues::Refused).unwrap_err();
    assert!(
        e.message.contains("element 1 is NaN") && e.message.contains("no missing-value handling"),
        "{e}"
    );
    let r = decode_request(&nan, Some(header.len()), LIMITS).unwrap();
    let bound = bind_inputs("iris", r.inputs, &iris_spec(), MissingValues::ReadAsNaN).unwrap();
    assert!(slice::<f32>(&bound[0]).unwrap()[1].is_nan());
}

#[test]
fn binding_checks_name_datatype_and_shape() {
    let ok = decode(r#"{"inputs":[{"name":"input","shape":[3,4],"datatype":"FP32","data":[1,2,3,4,1,2,3,4,1,2,3,4]}]}"#).unwrap();
    assert_eq!(
        bind_inputs("iris", ok.inputs, &iris_spec(), MissingValues::Refused)
            .unwrap()
            .len(),
        1
    );
    for (json, needle) in [
        (
            r#"{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}"#,
            "shape [1, 3]",
        ),
        (
            r#"{"inputs":[{"name":"input","shape":[4],"datatype":"FP32","data":[1,2,3,4]}]}"#,
            "shape [4]",
        ),
        (
            r#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}"#,
            "datatype FP64",
        ),
        (
            r#"{"inputs":[{"name":"other","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#,
            "no input 'other'",
        ),
        (
            r#"{"inputs":[{"name":"input","shape":[0,4],"datatype":"FP32","data":[]}]}"#,
            "no elements",
        ),
    ] {
        let r = decode(json).unwrap();
        let e = bind_inputs("iris", r.inputs, &iris_spec(), MissingValues::Refused).unwrap_err();
        assert!(e.message.contains(needle), "{needle}: {e}");
    }
}

#[test]
fn responses_encode_as_json_or_binary() {
    let probs = Tensor::from_shape(&[1, 2], &[0.25f32, 0.75]).unwrap();
    let label = Tensor::from_shape(&[1], &[1i64]).unwrap();
    let r = encode_response(
        "iris",
        "1",
        Some("req"),
        &[
            OutputTensor {
                name: "label",
                tensor: &label,
                binary: false,
            },
            OutputTensor {
                name: "p",
                tensor: &probs,
                binary: true,
            },
        ],
    )
    .unwrap();
    let json_len = r.json_len.unwrap();
    let head: serde_json::Value = serde_json::from_slice(&r.body[..json_len]).unwrap();
    assert_eq!(head["id"], "req");
    assert_eq!(head["outputs"][0]["data"], serde_json::json!([1]));
    assert_eq!(head["outputs"][1]["parameters"]["binary_data_size"], 8);
    assert_eq!(&r.body[json_len..json_len + 4], &0.25f32.to_le_bytes());

    let r = encode_response(
        "iris",
        "1",
        None,
        &[OutputTensor {
            name: "p",
            tensor: &probs,
            binary: false,
        }],
    )
    .unwrap();
    assert!(r.json_len.is_none());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["outputs"][0]["shape"], serde_json::json!([1, 2]));
    assert_eq!(v["outputs"][0]["datatype"], "FP32");
}
