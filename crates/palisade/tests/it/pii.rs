//! PII minimization on the data plane: a string model under `reject`, `redact`, `hash` and
//! output policies, and planted values that must never reach a log or an audit line.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        out.push(if v == 0 { b } else { b | 0x80 });
        if v == 0 {
            return;
        }
    }
}

fn field(num: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(num << 3 | 2, &mut out);
    varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

fn int_field(num: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(num << 3, &mut out);
    varint(v, &mut out);
    out
}

/// An ONNX model that returns its string input: Identity over a STRING tensor [batch].
fn echo_model() -> Vec<u8> {
    let value_info = |name: &str| {
        let dim = field(1, &field(2, b"batch"));
        let tensor = [int_field(1, 8), field(2, &dim)].concat();
        field(2, &field(1, &tensor))
            .into_iter()
            .chain(field(1, name.as_bytes()))
            .collect::<Vec<u8>>()
    };
    let node = [
        field(1, b"text"),
        field(2, b"echo"),
        field(3, b"echo"),
        field(4, b"Identity"),
    ]
    .concat();
    let graph = [
        field(1, &node),
        field(2, b"echo"),
        field(11, &value_info("text")),
        field(12, &value_info("echo")),
    ]
    .concat();
    [
        int_field(1, 8),
        field(8, &int_field(2, 13)),
        field(7, &graph),
    ]
    .concat()
}

const SSN: &str = "536-22-1234";
const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";

/// Demo state plus models `echo` (inputs: SSN rejected, email hashed, the rest redacted;
/// outputs allowed, so the response shows what the model saw) and `echo-out` (inputs
/// allowed, outputs redacted).
fn server() -> Palisade {
    Palisade::with_setup(|dir, config| {
        let key = dir.join("keys/model-signing.key");
        for name in ["echo", "echo-out"] {
            let version = dir.join("models").join(name).join("1");
            std::fs::create_dir_all(&version).unwrap();
            let model = echo_model();
            std::fs::write(version.join("model.onnx"), &model).unwrap();
            std::fs::write(
                dir.join("models").join(name).join("model.toml"),
                format!(
                    "owner = \"support\"\n[versions.1]\nsha256 = \"{}\"\n",
                    hex::encode(sha2::Sha256::digest(&model))
                ),
            )
            .unwrap();
            let out = std::process::Command::new(BIN)
                .args([
                    "models",
                    "sign",
                    version.to_str().unwrap(),
                    "--key",
                    key.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(dir.join("keys/pii-hash.key"), "11".repeat(32)).unwrap();
        config.edit(
            "models = [\"iris\", \"diabetes\", \"breast-cancer\"]",
            "models = [\"iris\", \"diabetes\", \"breast-cancer\", \"echo\", \"echo-out\"]",
        ) + r#"
[pii]
hash_key = "keys/pii-hash.key"
[pii.models.echo]
inputs = { default = "redact", US_SSN = "reject", EMAIL_ADDRESS = "hash" }
outputs = { default = "allow" }
[pii.models.echo-out]
inputs = { default = "allow" }
outputs = { default = "redact" }
"#
    })
}

async fn echo(p: &Palisade, model: &str, text: &str) -> (StatusCode, Value, String) {
    let r = p
        .client()
        .post(format!("{}/v2/models/{model}/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .json(&json!({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]}))
        .send()
        .await
        .unwrap();
    let id = request_id(&r);
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (status, body, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_reject_redact_and_hash_and_nothing_leaks() {
    let p = server();

    // reject: 400 naming the type, never the value.
    let (status, body, id) = echo(&p, "echo", &format!("my ssn is {SSN}, call me")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("US_SSN") && !error.contains(SSN), "{error}");
    let event = p.audit_event(&id);
    assert_eq!(event["pii"]["US_SSN"], 1, "{event}");

    // redact and hash: the model sees minimized text (its output is its input).
    let (status, body, id) = echo(&p, "echo", &format!("card {CARD}, mail {EMAIL}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = body["outputs"][0]["data"][0].as_str().unwrap();
    assert!(
        seen.starts_with("card <CREDIT_CARD>, mail <EMAIL_ADDRESS:"),
        "{seen}"
    );
    assert!(!seen.contains("jane") && !seen.contains("4111"), "{seen}");
    let event = p.audit_event(&id);
    assert_eq!(
        (
            event["pii"]["CREDIT_CARD"].clone(),
            event["pii"]["EMAIL_ADDRESS"].clone()
        ),
        (json!(1), json!(1))
    );
    // Hash pseudonyms are stable across calls.
    let (_, again, _) = echo(&p, "echo", &format!("card {CARD}, mail {EMAIL}")).await;
    assert_eq!(
        again["outputs"][0]["data"][0],
        body["outputs"][0]["data"][0]
    );

    // Output policy: the model sees the value, the caller does not.
    let (status, body, _) = echo(&p, "echo-out", &format!("ssn {SSN}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outputs"][0]["data"][0], "ssn <US_SSN>");

    // A planted value in places that reach messages: the model name and the body.
    let r = p
        .client()
        .post(format!("{}/v2/models/{SSN}/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .body(format!("{{\"inputs\": [{{\"name\": \"{EMAIL}\"}}]}}"))
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains(SSN));
    let r = p
        .client()
        .post(format!("{}/v2/models/echo/infer", p.data))
        .header("authorization", format!("Bearer {}", p.token("client")))
        .body(format!("{{\"inputs\": [], \"{EMAIL}\": 1}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!r.text().await.unwrap().contains(EMAIL));

    p.assert_metrics(&[
        "palisade_pii_findings_total{model=\"echo\",direction=\"input\",entity=\"US_SSN\"} 1",
        "palisade_pii_findings_total{model=\"echo-out\",direction=\"output\",entity=\"US_SSN\"} 1",
    ])
    .await;
    let logs = p.stderr_text() + &audit_text(p.state());
    for planted in [SSN, EMAIL, "4111 1111", "jane.doe"] {
        assert!(
            !logs.contains(planted),
            "{planted} reached a log or audit line"
        );
    }
}

#[test]
fn bad_pii_config_is_named_by_palisade_check() {
    let dir = tempfile::tempdir().unwrap();
    create_demo_state(dir.path());
    let path = dir.path().join("palisade.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.clone() + "\n[pii.models.iris]\ninputs = { US_SSNN = \"redact\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("pii.models.iris.inputs.US_SSNN"),
        "{said}"
    );
    std::fs::write(
        &path,
        text + "\n[pii.models.iris]\ninputs = { default = \"hash\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("pii.hash_key"),
        "{said}"
    );
}

#[test]
fn pii_cli_scans_and_redacts_text_jsonl_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("pii")
            .args(args)
            .output()
            .unwrap()
    };
    // Byte offsets from the start of the input, through multi-byte text, with lines.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, format!("Grüße 🙂\nmail {EMAIL} or ssn {SSN}\n")).unwrap();
    let out = run(&["scan", text.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "findings exit 1");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let raw = std::fs::read(&text).unwrap();
    let spans = report["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2);
    for (span, want) in spans.iter().zip([EMAIL, SSN]) {
        let (s, e) = (
            span["start"].as_u64().unwrap() as usize,
            span["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&raw[s..e], want.as_bytes());
        assert_eq!(span["line"], 2);
    }
    let out = run(&["redact", text.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Grüße 🙂\nmail <EMAIL_ADDRESS> or ssn <US_SSN>\n"
    );

    // JSON Lines: only the chosen field; redaction keeps it valid JSON.
    let jsonl = dir.path().join("tickets.jsonl");
    std::fs::write(
        &jsonl,
        format!("{{\"user\": {{\"email\": \"{EMAIL}\"}}, \"body\": \"ssn {SSN}\"}}\n"),
    )
    .unwrap();
    let out = run(&[
        "scan",
        jsonl.to_str().unwrap(),
        "--fields",
        "user.email",
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counts"], json!({"EMAIL_ADDRESS": 1}));
    let out = run(&["redact", jsonl.to_str().unwrap()]);
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["body"], "ssn <US_SSN>");

    // CSV: chosen columns by header name.
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        format!("name,email,ssn\n\"Doe, Jane\",{EMAIL},{SSN}\n"),
    )
    .unwrap();
    let out = run(&[
        "redact",
        csv.to_str().unwrap(),
        "--fields",
        "ssn",
        "--action",
        "mask",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("name,email,ssn\n\"Doe, Jane\",{EMAIL},***-**-1234\n")
    );
    let out = run(&["scan", csv.to_str().unwrap(), "--fields", "nope"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad column is an error, not a clean result"
    );
}

#[test]
fn pii_cli_streams_text_files_and_reveals_what_encrypt_hid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str], stdin: Option<&std::path::Path>| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("pii").args(args).current_dir(d);
        if let Some(p) = stdin {
            cmd.stdin(std::fs::File::open(p).unwrap());
        }
        cmd.output().unwrap()
    };
    // Over 2 MiB, so the streamed scan crosses block edges; a key block spans lines.
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(&format!("row {i}: mail {EMAIL} ssn {SSN} ünïcödé\n"));
    }
    text.push_str(
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq9\nabcdef\n-----END RSA PRIVATE KEY-----\n",
    );
    let path = d.join("big.txt");
    std::fs::write(&path, &text).unwrap();
    let streamed = run(&["redact", "big.txt"], None);
    let in_memory = run(&["redact", "-"], Some(&path));
    assert!(streamed.status.success() && in_memory.status.success());
    assert_eq!(
        streamed.stdout, in_memory.stdout,
        "file and stdin redact alike"
    );
    let out = String::from_utf8(streamed.stdout).unwrap();
    assert!(!out.contains(EMAIL) && !out.contains(SSN) && !out.contains("MIIEpAIBAAKCAQEA7bq9"));
    assert_eq!(out.matches("<US_SSN>").count(), 40_000);
    assert!(
        out.ends_with("<PRIVATE_KEY>\n"),
        "{}",
        &out[out.len() - 80..]
    );

    // encrypt, then reveal with the key; a wrong key reveals nothing.
    std::fs::write(d.join("enc.key"), "ab".repeat(32)).unwrap();
    std::fs::write(d.join("other.key"), "cd".repeat(32)).unwrap();
    let small = d.join("small.txt");
    std::fs::write(&small, &text[text.len() - 200..]).unwrap();
    let enc = run(
        &[
            "redact",
            "small.txt",
            "--action",
            "encrypt",
            "--encrypt-key",
            "enc.key",
        ],
        None,
    );
    assert!(enc.status.success());
    assert!(!String::from_utf8_lossy(&enc.stdout).contains("MIIEpAIBAAKCAQEA7bq9"));
    std::fs::write(d.join("enc.txt"), &enc.stdout).unwrap();
    let back = run(&["reveal", "enc.txt", "--encrypt-key", "enc.key"], None);
    assert!(back.status.success());
    assert_eq!(back.stdout, std::fs::read(&small).unwrap());
    let wrong = run(&["reveal", "enc.txt", "--encrypt-key", "other.key"], None);
    assert_eq!(
        wrong.stdout, enc.stdout,
        "tokens that do not decrypt stay as they are"
    );
    let no_key = run(&["reveal", "enc.txt", "--encrypt-key", "missing.key"], None);
    assert_eq!(no_key.status.code(), Some(1));
}

fn pii(args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .arg("pii")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Issue 12, point 1: JSON escapes hid PII from the CLI, and Python's default `json.dumps`
/// output was redacted into invalid JSON.
#[test]
fn escaped_json_strings_are_decoded_scanned_and_re_encoded() {
    let input = concat!(
        r#"{"e":"bob\u0040example.com"}"#,
        "\n",
        r#"{"a":"ssn 536\u002d22\u002d1234"}"#,
        "\n",
        r#"{"a":"card 4111\u00201111\u00201111\u00201111"}"#,
        "\n",
        r#"{"a":"tel:\u00a0415-555-2671"}"#,
        "\n",
        r#"{"e": "jos\u00e9@example.com", "n": 4111111111111111}"#,
        "\n",
    );
    let out = pii(&["redact", "-", "--kind", "jsonl"], input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is valid JSON"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["e"], "<EMAIL_ADDRESS>");
    assert_eq!(lines[1]["a"], "ssn <US_SSN>");
    assert_eq!(lines[2]["a"], "card <CREDIT_CARD>");
    assert_eq!(lines[3]["a"], "tel:\u{a0}<PHONE_NUMBER>");
    assert_eq!(lines[4]["e"], "<EMAIL_ADDRESS>");
    assert_eq!(
        lines[4]["n"], "<CREDIT_CARD>",
        "a card written as a JSON number"
    );
    for secret in ["example.com", "1234", "2671", "1111"] {
        assert!(!text.contains(secret), "{secret} left in {text}");
    }
    // The scan reports offsets into the input as written (the escape included).
    let out = pii(
        &["scan", "-", "--kind", "jsonl", "--format", "json"],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &report["spans"][0];
    let (s, e) = (
        first["start"].as_u64().unwrap() as usize,
        first["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&input[s..e], r"bob\u0040example.com");
    // A line that is not JSON is an error naming it, never passed through.
    let out = pii(
        &["redact", "-", "--kind", "jsonl"],
        b"{\"a\":\"x\"}\n{\"a\": 536-22-1234\n",
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

/// Issue 12, point 2: a quoted CSV cell holding a newline shifted the columns.
#[test]
fn multi_line_csv_cells_keep_their_columns() {
    let input = "id,notes,phone\n1,\"a\nb\",415-555-2671\n2,\"first line\nssn 536-22-1234\",x\n";
    let redacted = |fields: &str| {
        let out = pii(
            &["redact", "-", "--kind", "csv", "--fields", fields],
            input.as_bytes(),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        redacted("phone"),
        "id,notes,phone\n1,\"a\nb\",<PHONE_NUMBER>\n2,\"first line\nssn 536-22-1234\",x\n"
    );
    assert_eq!(
        redacted("notes"),
        "id,notes,phone\n1,\"a\nb\",415-555-2671\n2,\"first line\nssn <US_SSN>\",x\n"
    );
    let out = pii(
        &["scan", "-", "--kind", "csv", "--format", "json"],
        input.as_bytes(),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<u64> = report["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        [3, 5],
        "the line each value is on, not the record's first"
    );
}

/// Issue 12, point 3: invisible and look-alike characters defeated detection; what is
/// redacted is the original text, invisible characters included.
#[test]
fn invisible_and_look_alike_characters_are_seen_through() {
    let input = "a alice\u{200b}@example.com b 536\u{200b}-22-1234 c 536\u{ad}-22-1234 \
                 d 536\u{2011}22\u{2011}1234 e \u{ff41}lice\u{ff20}example.com \
                 f \u{ff15}\u{ff13}\u{ff16}-22-1234 g 4111\u{a0}1111\u{a0}1111\u{a0}1111\n";
    let out = pii(&["redact", "-"], input.as_bytes());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "a <EMAIL_ADDRESS> b <US_SSN> c <US_SSN> d <US_SSN> e <EMAIL_ADDRESS> f <US_SSN> \
         g <CREDIT_CARD>\n"
    );
}

/// Issue 12, point 12: formula cells reach spreadsheets as text, unless asked otherwise.
#[test]
fn csv_formula_cells_are_neutralized_by_default() {
    let input = "a,b\n=HYPERLINK(\"http://evil\"),@SUM(A1)\n-12.5,+33\n";
    let out = pii(&["redact", "-", "--kind", "csv"], input.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a,b\n\"'=HYPERLINK(\"\"http://evil\"\")\",'@SUM(A1)\n-12.5,+33\n"
    );
    let out = pii(
        &["redact", "-", "--kind", "csv", "--dangerous-keep-formulas"],
        input.as_bytes(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
}

/// Issue 12, point 6: text built so that every byte starts a candidate is refused, on the
/// server and in the CLI, rather than costing a hundred times what prose costs (or passing
/// uninspected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_too_costly_to_inspect_is_refused_not_passed_on() {
    let p = server();
    let flood = "1-".repeat(1 << 20);
    let (status, body, id) = echo(&p, "echo", &flood).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("input 'text'") && error.contains("too dense"),
        "{error}"
    );
    assert_eq!(p.audit_event(&id)["reason"], "unprocessable");
    // Ordinary text with personal data still goes through.
    let (status, body, _) = echo(&p, "echo", &format!("card {CARD}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flood.txt");
    std::fs::write(&file, "::".repeat(1 << 20)).unwrap();
    let out = pii(&["scan", file.to_str().unwrap()], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("too dense") && err.contains("from byte"),
        "{err}"
    );
    let out = pii(&["redact", file.to_str().unwrap()], b"");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing uninspected is written");
}
