//! Pickles made by CPython's `pickle.dumps` (hex below, protocols 0 to 5) and hand-assembled
//! ones that hide their imports in the memo.

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn worst(data: &[u8]) -> Option<(Severity, &'static str, String)> {
    scan("t.pkl", data, Limits::default())
        .findings
        .into_iter()
        .next()
        .map(|f| (f.severity, f.rule, f.message))
}

// class X: __reduce__ = lambda self: (os.system, ("echo pwned",)), protocol 4 and 0.
const SYS4: &str = "80049525000000000000008c05706f736978948c0673797374656d9493948c0a6563686f2070776e656494859452942e";
const SYS0: &str =
    "63706f7369780a73797374656d0a70300a28566563686f2070776e65640a70310a7470320a5270330a2e";
// (builtins.eval, ("1+1",)), protocol 2 (Python 2 module name via the compat mapping).
const EVAL2: &str =
    "8002635f5f6275696c74696e5f5f0a6576616c0a71005803000000312b3171018571025271032e";
// (subprocess.Popen, (["id"],)), protocol 5.
const SUB5: &str = "80059524000000000000008c0a73756270726f63657373948c05506f70656e9493945d948c0269649461859452942e";
// {"a": [1, 2, 3], "b": (1.5, "x"), "c": {1, 2}, "d": bytes(10)}, protocol 5; and protocol 0.
const BENIGN5: &str = "80059543000000000000007d94288c0161945d94284b014b024b03658c016294473ff80000000000008c01789486948c0163948f94284b014b02908c016494430a0000000000000000000094752e";
const BENIGN0: &str = "286470300a56610a70310a286c70320a49310a6149320a6149330a617356620a70330a2846312e350a56780a70340a7470350a732e";

#[test]
fn code_execution_is_critical_in_every_protocol() {
    for (name, pickle, import) in [
        ("SYS4", SYS4, "posix.system"),
        ("SYS0", SYS0, "posix.system"),
        ("EVAL2", EVAL2, "__builtin__.eval"),
        ("SUB5", SUB5, "subprocess.Popen"),
    ] {
        let (severity, rule, message) = worst(&h(pickle)).unwrap();
        assert_eq!(severity, Severity::Critical, "{name}");
        assert_eq!(rule, "pickle.dangerous-import", "{name}");
        assert!(message.contains(import), "{name}: {message}");
    }
}

#[test]
fn imports_hidden_in_the_memo_are_resolved() {
    // PROTO 4; "os" MEMOIZE POP; "system" MEMOIZE POP; BINGET 0; BINGET 1; STACK_GLOBAL;
    // "id" TUPLE1 REDUCE STOP: no string sits right before STACK_GLOBAL.
    let mut p = vec![0x80, 4];
    p.extend([0x8c, 2]);
    p.extend(b"os");
    p.extend([0x94, b'0', 0x8c, 6]);
    p.extend(b"system");
    p.extend([0x94, b'0', b'h', 0, b'h', 1, 0x93, 0x8c, 2]);
    p.extend(b"id");
    p.extend([0x85, b'R', b'.']);
    let report = scan("memo.pkl", &p, Limits::default());
    assert_eq!(report.imports[0].1, "os");
    assert_eq!(report.imports[0].2, "system");
    assert_eq!(report.findings[0].severity, Severity::Critical);
    assert_eq!(report.findings[0].offset, 22); // the STACK_GLOBAL opcode
                                               // A name that is not a plain string (built at load time) cannot be judged: high.
    let computed = [0x80, 4, b'N', b'N', 0x93, b'.'];
    let (severity, rule, _) = worst(&computed).unwrap();
    assert_eq!(
        (severity, rule),
        (Severity::High, "pickle.unresolved-import")
    );
}

#[test]
fn plain_data_and_model_classes_are_clean() {
    assert!(worst(&h(BENIGN5)).is_none());
    assert!(worst(&h(BENIGN0)).is_none());
    // A scikit-learn estimator with a numpy array inside, as protocol-0 GLOBALs.
    let sk = b"csklearn.linear_model._logistic\nLogisticRegression\n)\x81}(Vcoef_\ncnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87Rub.";
    let report = scan("model.pkl", sk, Limits::default());
    assert_eq!(report.imports.len(), 3, "{report:?}");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // Something not on the allow-list is reported, not failed.
    let (severity, rule, _) = worst(b"cmylib.models\nmake\n)R.").unwrap();
    assert_eq!(
        (severity, rule),
        (Severity::Medium, "pickle.unknown-import")
    );
    let (severity, rule, _) = worst(b"crequests.api\nget\n)R.").unwrap();
    assert_eq!((severity, rule), (Severity::High, "pickle.network-import"));
}

#[test]
fn broken_streams_are_reported_without_panicking() {
    for bad in [
        &b""[..],
        b"\x80",
        b"\x80\x04\x8c\x10short",
        b"cos\nsystem",                                   // line without newline
        b"(t0)",                                          // ends before STOP
        b"\x80\x04h\x05.",                                // memo key never stored
        b"\x80\x04\xff.",                                 // unknown opcode
        b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", // absurd length
        b"0.",                                            // stack underflow
    ] {
        let report = scan("bad.pkl", bad, Limits::default());
        assert!(
            report.findings.iter().any(|f| f.rule == "pickle.malformed"),
            "{bad:?}: {report:?}"
        );
    }
    // A dangerous import before the damage is still reported.
    let report = scan("half.pkl", b"cos\nsystem\n(S'x'\ntR", Limits::default());
    assert_eq!(report.findings[0].severity, Severity::Critical);
}

#[test]
fn limits_bound_the_walk() {
    let deep = [vec![0x80, 4], vec![b'('; 100], vec![b'.']].concat();
    let tight = Limits {
        max_stack: 10,
        ..Limits::default()
    };
    let report = scan("deep.pkl", &deep, tight);
    assert!(report.findings[0].message.contains("deeper than the limit"));
    // Pickles back to back are all walked; payload after the last one is not.
    let two = [h(BENIGN5), h(SYS4), b"raw tensor bytes".to_vec()].concat();
    let report = scan("two.pkl", &two, Limits::default());
    assert_eq!(report.findings[0].severity, Severity::Critical);
    assert_eq!(report.consumed as usize, two.len() - 16);
}
