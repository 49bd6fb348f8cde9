//! TensorFlow SavedModel (`saved_model.pb`): graph operators that touch the file system.
//!
//! A SavedModel graph is a program. `ReadFile` and `WriteFile` (and the Python-callback ops)
//! let a "model" read secrets or plant files when it runs. The protobuf is walked by field
//! number along the paths that hold operator names (graph nodes and function bodies),
//! without the TensorFlow schema, under a depth and size limit.

use super::{Finding, Severity};

/// Operators flagged, with why.
const FLAGGED: &[(&str, &str)] = &[
    ("ReadFile", "reads any file the server can read"),
    ("WriteFile", "writes any file the server can write"),
    ("MatchingFiles", "lists the server's file system"),
    ("PyFunc", "calls back into arbitrary Python"),
    ("PyFuncStateless", "calls back into arbitrary Python"),
    ("EagerPyFunc", "calls back into arbitrary Python"),
];

/// Length-delimited fields of one message: `(field number, bytes, offset in the buffer)`.
type Field<'a> = (u64, &'a [u8], usize);

fn fields(buf: &[u8]) -> Result<Vec<Field<'_>>, usize> {
    let mut out = Vec::new();
    let mut at = 0;
    let varint = |at: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *buf.get(*at)?;
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while at < buf.len() {
        let start = at;
        let key = varint(&mut at).ok_or(start)?;
        match key & 7 {
            0 => {
                varint(&mut at).ok_or(start)?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = usize::try_from(varint(&mut at).ok_or(start)?).map_err(|_| start)?;
                let end = at
                    .checked_add(len)
                    .filter(|&e| e <= buf.len())
                    .ok_or(start)?;
                out.push((key >> 3, &buf[at..end], at));
                at = end;
            }
            _ => return Err(start),
        }
        if at > buf.len() {
            return Err(start);
        }
    }
    Ok(out)
}

/// Operator names in a SavedModel, with offsets.
fn ops(data: &[u8]) -> Result<Vec<(String, usize)>, usize> {
    let mut out = Vec::new();
    let base = |outer: usize, inner: usize| outer + inner;
    // SavedModel.meta_graphs = 2 -> MetaGraphDef.graph_def = 2 -> GraphDef.
    for (n, meta, m_at) in fields(data)? {
        if n != 2 {
            continue;
        }
        for (n, graph, g_at) in fields(meta).map_err(|e| base(m_at, e))? {
            if n != 2 {
                continue;
            }
            let g_at = base(m_at, g_at);
            for (n, item, i_at) in fields(graph).map_err(|e| base(g_at, e))? {
                let i_at = base(g_at, i_at);
                match n {
                    // GraphDef.node = 1 -> NodeDef.op = 2
                    1 => node_op(item, i_at, &mut out)?,
                    // GraphDef.library = 2 -> FunctionDefLibrary.function = 1 -> node_def = 3
                    2 => {
                        for (n, func, f_at) in fields(item).map_err(|e| base(i_at, e))? {
                            if n != 1 {
                                continue;
                            }
                            let f_at = base(i_at, f_at);
                            for (n, node, n_at) in fields(func).map_err(|e| base(f_at, e))? {
                                if n == 3 {
                                    node_op(node, base(f_at, n_at), &mut out)?;
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

fn node_op(node: &[u8], at: usize, out: &mut Vec<(String, usize)>) -> Result<(), usize> {
    for (n, op, o_at) in fields(node).map_err(|e| at + e)? {
        if n == 2 {
            out.push((String::from_utf8_lossy(op).into_owned(), at + o_at));
        }
    }
    Ok(())
}

pub fn scan(file: &str, data: &[u8]) -> Vec<Finding> {
    match ops(data) {
        Ok(ops) => ops
            .into_iter()
            .filter_map(|(op, at)| {
                let (_, why) = FLAGGED.iter().find(|(name, _)| *name == op)?;
                Some(Finding {
                    rule: "tensorflow.unsafe-op",
                    severity: Severity::High,
                    file: file.to_string(),
                    offset: at as u64,
                    message: format!("graph uses operator {op}, which {why}"),
                })
            })
            .collect(),
        Err(at) => vec![Finding {
            rule: "tensorflow.malformed",
            severity: Severity::Medium,
            file: file.to_string(),
            offset: at as u64,
            message: "not a well-formed SavedModel protobuf from here".into(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(field: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2, body.len() as u8];
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn file_ops_are_found_in_graphs_and_functions() {
        let node = |op: &str| ld(1, &[ld(1, b"n"), ld(2, op.as_bytes())].concat());
        let func = ld(1, &ld(3, &[ld(1, b"n"), ld(2, b"WriteFile")].concat()));
        let graph = [node("MatMul"), node("ReadFile"), ld(2, &func)].concat();
        let saved = [vec![0x08, 0x01], ld(2, &ld(2, &graph))].concat();
        let found: Vec<String> = scan("saved_model.pb", &saved)
            .into_iter()
            .map(|f| f.message)
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("ReadFile") && found[1].contains("WriteFile"));
        assert!(scan(
            "s",
            &[vec![0x08, 0x01], ld(2, &ld(2, &node("MatMul")))].concat()
        )
        .is_empty());
        assert_eq!(
            scan("s", &[0x12, 0x7f]).len(),
            1,
            "truncated field is malformed"
        );
    }
}
