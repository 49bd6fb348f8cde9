//! Python pickle streams, read opcode by opcode (protocols 0 to 5) without executing any.
//!
//! What matters in a pickle is which callables it can reach: `GLOBAL`, `INST` and
//! `STACK_GLOBAL` import a module attribute, and `REDUCE`, `OBJ`, `NEWOBJ`, `INST` and
//! `BUILD` call or use it. The walker keeps a shadow stack and memo holding just enough
//! (strings and imported names) to resolve `STACK_GLOBAL` even when its module and name
//! strings were stashed in the memo and fetched back (`BINPUT` / `BINGET`), which is how
//! hand-crafted pickles hide `os.system` from scanners that only look at the opcode before.
//!
//! Every import is judged against a list of callables that run code, touch the system or
//! the network (critical or high), and an allow-list of what model pickles legitimately
//! contain (numpy arrays, scikit-learn estimators, torch tensor rebuilds, containers).
//! Anything else is reported as unknown (medium): not known bad, not known good.

use super::{Finding, Severity};

/// Limits: a pickle that needs more than this is refused rather than walked.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_stack: usize,
    pub max_memo: usize,
    /// Longest string kept on the shadow stack (longer ones are data, not names).
    pub max_name: usize,
    /// Most pickles walked back to back in one stream.
    pub max_pickles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stack: 1 << 20,
            max_memo: 1 << 20,
            max_name: 1024,
            max_pickles: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    Global { module: String, name: String },
    Mark,
    Other,
}

/// What a pickle stream reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PickleReport {
    /// Every `module.name` imported, in order, with the offset of the opcode.
    pub imports: Vec<(u64, String, String)>,
    pub findings: Vec<Finding>,
    /// Bytes walked (pickle data ends at the last `STOP`; anything after is payload).
    pub consumed: u64,
}

/// Walk every pickle in `data` (back to back, as `torch.save` and `joblib` write them, while
/// the next byte starts a new one) and judge what they import.
pub fn scan(file: &str, data: &[u8], limits: Limits) -> PickleReport {
    let mut report = PickleReport::default();
    let mut at = 0usize;
    for n in 0..limits.max_pickles {
        match walk(data, at, limits, &mut report) {
            Ok(end) => {
                at = end;
                report.consumed = end as u64;
                // Another pickle follows only if the next byte starts one (PROTO).
                if data.get(at) != Some(&0x80) {
                    break;
                }
            }
            Err((offset, problem)) => {
                report.findings.push(Finding {
                    rule: "pickle.malformed",
                    severity: if n == 0 {
                        Severity::Medium
                    } else {
                        Severity::Low
                    },
                    file: file.to_string(),
                    offset: offset as u64,
                    message: format!("not a well-formed pickle from here: {problem}"),
                });
                break;
            }
        }
    }
    for (offset, module, name) in &report.imports {
        if let Some((rule, severity, why)) = judge(module, name) {
            report.findings.push(Finding {
                rule,
                severity,
                file: file.to_string(),
                offset: *offset,
                message: format!("imports {module}.{name}: {why}"),
            });
        }
    }
    report
        .findings
        .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.offset.cmp(&b.offset)));
    report
}

type Walked = Result<usize, (usize, String)>;

/// Walk one pickle starting at `start`; returns the offset after its `STOP`.
fn walk(data: &[u8], start: usize, limits: Limits, report: &mut PickleReport) -> Walked {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: std::collections::HashMap<u64, Value> = std::collections::HashMap::new();
    let mut at = start;
    loop {
        let op_at = at;
        let Some(&op) = data.get(at) else {
            return Err((op_at, "ends before STOP".into()));
        };
        at += 1;
        let fail = |what: &str| (op_at, format!("opcode 0x{op:02x}: {what}"));
        // Readers of the argument forms.
        let take = |at: &mut usize, n: usize| -> Result<&[u8], (usize, String)> {
            let end = at.checked_add(n).filter(|&e| e <= data.len());
            let end = end.ok_or_else(|| fail("argument runs past the end"))?;
            let s = &data[*at..end];
            *at = end;
            Ok(s)
        };
        let uint = |at: &mut usize, n: usize| -> Result<u64, (usize, String)> {
            let b = take(at, n)?;
            Ok(b.iter()
                .rev()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        };
        let line = |at: &mut usize| -> Result<&[u8], (usize, String)> {
            let rest = &data[*at..];
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| fail("line argument without newline"))?;
            *at += nl + 1;
            Ok(&rest[..nl])
        };
        let sized = |at: &mut usize, len: u64| -> Result<&[u8], (usize, String)> {
            let len = usize::try_from(len).map_err(|_| fail("length too large"))?;
            take(at, len)
        };
        let text = |b: &[u8]| -> Value {
            match std::str::from_utf8(b) {
                Ok(s) if s.len() <= limits.max_name => Value::Str(s.to_string()),
                _ => Value::Other,
            }
        };
        let pop_mark = |stack: &mut Vec<Value>| -> Result<Vec<Value>, (usize, String)> {
            let mark = stack
                .iter()
                .rposition(|v| *v == Value::Mark)
                .ok_or_else(|| fail("no MARK on the stack"))?;
            let items = stack.split_off(mark + 1);
            stack.pop();
            Ok(items)
        };
        let pop = |stack: &mut Vec<Value>| stack.pop().ok_or_else(|| fail("stack underflow"));
        match op {
            b'.' => return Ok(at), // STOP
            b'(' => stack.push(Value::Mark),
            b'0' => {
                pop(&mut stack)?;
            }
            b'1' => {
                pop_mark(&mut stack)?;
            }
            b'2' => {
                let top = stack
                    .last()
                    .cloned()
                    .ok_or_else(|| fail("stack underflow"))?;
                stack.push(top);
            }
            // Numbers and constants: push an opaque value.
            b'F' | b'I' | b'L' => {
                line(&mut at)?;
                stack.push(Value::Other);
            }
            b'J' => {
                take(&mut at, 4)?;
                stack.push(Value::Other);
            }
            b'K' => {
                take(&mut at, 1)?;
                stack.push(Value::Other);
            }
            b'M' => {
                take(&mut at, 2)?;
                stack.push(Value::Other);
            }
            b'G' => {
                take(&mut at, 8)?;
                stack.push(Value::Other);
            }
            b'N' | 0x88 | 0x89 | b')' | b']' | b'}' | 0x8f => stack.push(Value::Other),
            0x8a => {
                let n = uint(&mut at, 1)?;
                sized(&mut at, n)?;
                stack.push(Value::Other);
            }
            0x8b => {
                let n = uint(&mut at, 4)?;
                sized(&mut at, n)?;
                stack.push(Value::Other);
            }
            // Strings: kept when short enough to be a module or attribute name.
            b'S' => {
                let raw = line(&mut at)?;
                let unquoted = raw
                    .strip_prefix(b"'")
                    .and_then(|r| r.strip_suffix(b"'"))
                    .or_else(|| raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")))
                    .unwrap_or(raw);
                stack.push(text(unquoted));
            }
            b'V' => {
                let raw = line(&mut at)?;
                stack.push(text(raw));
            }
            b'T' | b'X' | b'B' => {
                let n = uint(&mut at, 4)?;
                let s = sized(&mut at, n)?;
                stack.push(if op == b'B' { Value::Other } else { text(s) });
            }
            b'U' | 0x8c | b'C' => {
                let n = uint(&mut at, 1)?;
                let s = sized(&mut at, n)?;
                stack.push(if op == b'C' { Value::Other } else { text(s) });
            }
            0x8d | 0x8e | 0x96 => {
                let n = uint(&mut at, 8)?;
                let s = sized(&mut at, n)?;
                stack.push(if op == 0x8d { text(s) } else { Value::Other });
            }
            // Imports.
            b'c' | b'i' => {
                let module = String::from_utf8_lossy(line(&mut at)?).into_owned();
                let name = String::from_utf8_lossy(line(&mut at)?).into_owned();
                report
                    .imports
                    .push((op_at as u64, module.clone(), name.clone()));
                if op == b'i' {
                    // INST: instantiate with the items above the mark.
                    pop_mark(&mut stack)?;
                    stack.push(Value::Other);
                } else {
                    stack.push(Value::Global { module, name });
                }
            }
            0x93 => {
                // STACK_GLOBAL: module and name come from the stack (maybe via the memo).
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => {
                        report
                            .imports
                            .push((op_at as u64, module.clone(), name.clone()));
                        stack.push(Value::Global { module, name });
                    }
                    _ => {
                        // Names built some other way cannot be judged: say so, loudly.
                        report.imports.push((
                            op_at as u64,
                            "<computed>".into(),
                            "<computed>".into(),
                        ));
                        stack.push(Value::Other);
                    }
                }
            }
            // Calls and builds: consume their arguments, push a result.
            b'R' | 0x81 => {
                pop(&mut stack)?;
                pop(&mut stack)?;
                stack.push(Value::Other);
            }
            0x92 => {
                pop(&mut stack)?;
                pop(&mut stack)?;
                pop(&mut stack)?;
                stack.push(Value::Other);
            }
            b'o' => {
                pop_mark(&mut stack)?;
                stack.push(Value::Other);
            }
            b'b' => {
                pop(&mut stack)?;
            }
            // Containers.
            b't' | b'l' | b'd' | 0x91 => {
                pop_mark(&mut stack)?;
                stack.push(Value::Other);
            }
            b'a' => {
                pop(&mut stack)?;
            }
            b's' => {
                pop(&mut stack)?;
                pop(&mut stack)?;
            }
            b'e' | b'u' | 0x90 => {
                pop_mark(&mut stack)?;
            }
            0x85 => {
                pop(&mut stack)?;
                stack.push(Value::Other);
            }
            0x86 => {
                pop(&mut stack)?;
                pop(&mut stack)?;
                stack.push(Value::Other);
            }
            0x87 => {
                pop(&mut stack)?;
                pop(&mut stack)?;
                pop(&mut stack)?;
                stack.push(Value::Other);
            }
            // Memo.
            b'p' | b'q' | b'r' | 0x94 => {
                let key = match op {
                    b'p' => parse_decimal(line(&mut at)?).ok_or_else(|| fail("bad PUT index"))?,
                    b'q' => uint(&mut at, 1)?,
                    b'r' => uint(&mut at, 4)?,
                    _ => memo.len() as u64,
                };
                let top = stack
                    .last()
                    .cloned()
                    .ok_or_else(|| fail("stack underflow"))?;
                if memo.len() >= limits.max_memo && !memo.contains_key(&key) {
                    return Err(fail("memo larger than the limit"));
                }
                memo.insert(key, top);
            }
            b'g' | b'h' | b'j' => {
                let key = match op {
                    b'g' => parse_decimal(line(&mut at)?).ok_or_else(|| fail("bad GET index"))?,
                    b'h' => uint(&mut at, 1)?,
                    _ => uint(&mut at, 4)?,
                };
                let v = memo
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| fail("memo key was never stored"))?;
                stack.push(v);
            }
            // Extension registry and persistent ids: opaque references resolved by the loader.
            0x82..=0x84 => {
                take(&mut at, [1, 2, 4][usize::from(op - 0x82)])?;
                report
                    .imports
                    .push((op_at as u64, "<extension>".into(), "<registry>".into()));
                stack.push(Value::Other);
            }
            b'P' => {
                line(&mut at)?;
                stack.push(Value::Other);
            }
            b'Q' => {
                pop(&mut stack)?;
                stack.push(Value::Other);
            }
            // Framing and protocol.
            0x80 => {
                take(&mut at, 1)?;
            }
            0x95 => {
                take(&mut at, 8)?;
            }
            0x97 => stack.push(Value::Other),
            0x98 => {}
            _ => return Err(fail("unknown opcode")),
        }
        if stack.len() > limits.max_stack {
            return Err(fail("stack deeper than the limit"));
        }
    }
}

fn parse_decimal(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

/// The verdict on one import: `None` when it is on the allow-list.
fn judge(module: &str, name: &str) -> Option<(&'static str, Severity, &'static str)> {
    let top = module.split('.').next().unwrap_or(module);
    const RUNS_CODE: &[&str] = &[
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "shutil",
        "runpy",
        "pty",
        "ctypes",
        "code",
        "commands",
        "importlib",
        "pickle",
        "_pickle",
        "cPickle",
        "marshal",
        "multiprocessing",
        "signal",
        "platform",
        "pip",
        "setuptools",
        "threading",
        "_thread",
        "asyncio",
        "tempfile",
        "pathlib",
        "glob",
        "io",
        "_io",
        "operator",
        "functools",
        "types",
        "inspect",
        "pdb",
        "timeit",
        "cProfile",
        "profile",
        "trace",
        "dill",
        "torch._C",
    ];
    const NETWORK: &[&str] = &[
        "socket",
        "webbrowser",
        "http",
        "httplib",
        "urllib",
        "urllib2",
        "requests",
        "ftplib",
        "smtplib",
        "telnetlib",
        "ssl",
        "aiohttp",
        "xmlrpc",
        "paramiko",
    ];
    const DANGEROUS_BUILTINS: &[&str] = &[
        "eval",
        "exec",
        "execfile",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "__import__",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "memoryview",
        "apply",
        "file",
        "reload",
    ];
    if module.starts_with('<') {
        return Some((
            "pickle.unresolved-import",
            Severity::High,
            "the callable is computed at load time and cannot be checked",
        ));
    }
    if matches!(top, "builtins" | "__builtin__" | "__builtins__") {
        if DANGEROUS_BUILTINS.contains(&name) {
            return Some((
                "pickle.dangerous-import",
                Severity::Critical,
                "a builtin that evaluates code, opens files or reaches any attribute",
            ));
        }
        const SAFE_BUILTINS: &[&str] = &[
            "set",
            "frozenset",
            "slice",
            "range",
            "complex",
            "bytearray",
            "bytes",
            "tuple",
            "list",
            "dict",
            "int",
            "float",
            "bool",
            "str",
            "object",
        ];
        return (!SAFE_BUILTINS.contains(&name)).then_some((
            "pickle.unknown-import",
            Severity::Medium,
            "a builtin not on the allow-list",
        ));
    }
    if RUNS_CODE.contains(&top) || RUNS_CODE.contains(&module) {
        return Some((
            "pickle.dangerous-import",
            Severity::Critical,
            "runs code or reaches the system when the pickle is loaded",
        ));
    }
    if NETWORK.contains(&top) {
        return Some((
            "pickle.network-import",
            Severity::High,
            "reaches the network when the pickle is loaded",
        ));
    }
    if allowed(module, name) {
        return None;
    }
    Some((
        "pickle.unknown-import",
        Severity::Medium,
        "not on the allow-list of what model pickles contain",
    ))
}

/// What model pickles legitimately import.
fn allowed(module: &str, name: &str) -> bool {
    let exact: &[(&str, &str)] = &[
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("copy_reg", "_reconstructor"),
        ("copyreg", "_reconstructor"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        // Protocol 5 arrays: a dtype, a shape and bytes, nothing callable.
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("sklearn.utils._bunch", "Bunch"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch", "Size"),
        ("torch", "device"),
        ("torch", "dtype"),
    ];
    if exact.contains(&(module, name)) {
        return true;
    }
    // Estimator classes, and torch storage types (FloatStorage, ...): classes, not functions.
    let class_like = name.chars().next().is_some_and(char::is_uppercase);
    (module.starts_with("sklearn.") && class_like)
        || (module == "torch" && name.ends_with("Storage"))
        || (module.starts_with("numpy.dtypes") && class_like)
}

#[cfg(test)]
mod tests;
