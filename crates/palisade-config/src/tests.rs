use super::*;

const GOOD: &str = r#"
[data_plane]
listen = "127.0.0.1:8443"
[data_plane.tls]
cert = "tls/server.pem"
key = "tls/server.key"

[admin_plane]
listen = "127.0.0.1:9443"
[admin_plane.tls]
cert = "tls/server.pem"
key = "tls/server.key"

[models]
repository = "models"

[roles.client]
grants = [{ actions = ["infer", "read_metadata"], models = ["iris", "fraud-*"] }]
[roles.admin]
grants = [{ actions = ["*"], models = ["*"] }]
"#;

fn parse(text: &str) -> Result<(Config, Vec<Finding>), ConfigError> {
    Config::parse(Path::new("/etc/palisade/palisade.toml"), text)
}

#[test]
fn good_config_resolves_paths_against_its_folder() {
    let (c, findings) = parse(GOOD).unwrap();
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(c.models.repository, Path::new("/etc/palisade/models"));
    assert_eq!(
        c.identity.keys_file,
        Path::new("/etc/palisade/keys/keys.json")
    );
    assert_eq!(
        c.data_plane.tls.unwrap().cert,
        Path::new("/etc/palisade/tls/server.pem")
    );
    assert_eq!(c.limits.max_json_depth, 16);
}

#[test]
fn roles_deny_by_default() {
    let (c, _) = parse(GOOD).unwrap();
    assert!(c.roles.allows("client", Action::Infer, Some("iris")));
    assert!(c.roles.allows("client", Action::Infer, Some("fraud-cards")));
    assert!(!c.roles.allows("client", Action::Infer, Some("diabetes")));
    assert!(!c.roles.allows("client", Action::LoadModel, Some("iris")));
    assert!(!c.roles.allows("client", Action::ManageKeys, None));
    assert!(!c.roles.allows("nobody", Action::Infer, Some("iris")));
    assert!(c.roles.allows("admin", Action::ManageKeys, None));
    assert!(c.roles.sees("client", "iris") && !c.roles.sees("client", "diabetes"));
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let text = GOOD.replace("[models]\n", "[models]\nrepositry = \"x\"\n");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("palisade.toml:"), "{err}");
    assert!(err.contains("repositry"), "{err}");
    let line = GOOD.lines().position(|l| l == "[models]").unwrap() + 2;
    assert!(err.contains(&format!(":{line}:")), "{err}");
}

#[test]
fn plaintext_refused_off_loopback_and_warned_on_it() {
    let text = GOOD.replace(
        "[data_plane]\nlisten = \"127.0.0.1:8443\"\n[data_plane.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n",
        "[data_plane]\nlisten = \"0.0.0.0:8080\"\ndangerous_plaintext = true\n",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("data_plane.dangerous_plaintext") && err.contains("non-loopback"),
        "{err}"
    );

    let text = text.replace("0.0.0.0:8080", "127.0.0.1:8080");
    let (c, findings) = parse(&text).unwrap();
    assert!(c.data_plane.dangerous_plaintext && c.data_plane.tls.is_none());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(findings[0].line.is_some());
}

#[test]
fn tls_is_required_without_the_dangerous_opt_in() {
    let text = GOOD.replace(
        "[admin_plane.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n",
        "",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("`admin_plane`") && err.contains("tls"),
        "{err}"
    );
}

#[test]
fn unknown_action_and_bad_limits_are_explained() {
    let err = parse(&GOOD.replace("\"read_metadata\"", "\"predict\""))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("roles.client.grants") && err.contains("'predict'") && err.contains("infer"),
        "{err}"
    );

    let err = parse(&format!("{GOOD}\n[limits]\nmax_json_depth = 1000\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("limits.max_json_depth"), "{err}");
    let err = parse(&format!("{GOOD}\n[limits]\nrequest_timeout = \"soon\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("limits.request_timeout") && err.contains("5s"),
        "{err}"
    );
}

#[test]
fn same_port_for_both_planes_is_refused() {
    let err = parse(&GOOD.replace("127.0.0.1:9443", "127.0.0.1:8443"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("admin_plane.listen"), "{err}");
}
