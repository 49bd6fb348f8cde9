use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::*;
use crate::principal::AuthMethod;

const ROLES: &str = r#"
[data_plane]
listen = "127.0.0.1:0"
dangerous_plaintext = true
[admin_plane]
listen = "127.0.0.1:0"
dangerous_plaintext = true
[models]
repository = "models"
[roles.client]
grants = [{ actions = ["infer", "read_metadata"], models = ["iris", "fraud-*"] }]
[roles.admin]
grants = [{ actions = ["*"], models = ["*"] }]
[roles.analyst]
grants = [{ actions = ["read_metadata"], models = ["fraud-*"] }]
"#;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

fn set(dir: Option<&Path>) -> CompiledPolicies {
    let (config, _) = Config::parse(Path::new("/x/palisade.toml"), ROLES).unwrap();
    compile(
        &schema().unwrap(),
        &config.roles.to_cedar(),
        dir,
        &BTreeSet::new(),
        0,
    )
    .unwrap()
}

fn key(role: &str) -> Principal {
    let mut p = Principal::new(
        PrincipalKind::ApiKey,
        "0123456789abcdef".into(),
        vec![role.into()],
        AuthMethod::ApiKey,
    );
    p.label = "test".into();
    p
}

fn service(role: &str) -> Principal {
    Principal::new(
        PrincipalKind::Service,
        "spiffe://prod/ns/scoring".into(),
        vec![role.into()],
        AuthMethod::Mtls,
    )
}

fn model<'a>(name: &'a str, risk: &'a str, owner: Option<&'a str>) -> ModelResource<'a> {
    static FINANCIAL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ModelResource {
        name,
        version: Some("1"),
        risk,
        personal_data: FINANCIAL.get_or_init(|| vec!["financial".into()]),
        owner,
    }
}

/// Tuesday 2026-11-24 at `hour`:30 UTC.
fn at(hour: i64, mtls: bool) -> RequestContext<'static> {
    RequestContext {
        plane: "data",
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        mtls,
        spiffe_id: None,
        now: 1_795_478_400 + hour * 3600 + 1800,
    }
}

fn decide(
    s: &CompiledPolicies,
    who: &Principal,
    action: Action,
    m: Option<&ModelResource<'_>>,
    ctx: &RequestContext<'_>,
) -> Verdict {
    let v = s.decide(who, action, m, ctx);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    v
}

#[test]
fn role_table_denies_by_default_and_names_the_grant() {
    let s = set(None);
    let iris = model("iris", "low", Some("ml"));
    let ctx = at(10, false);
    let v = decide(&s, &key("client"), Action::Infer, Some(&iris), &ctx);
    assert!(v.allowed);
    assert_eq!(&*v.policies, ["role.client.1"]);
    let fraud = model("fraud-cards", "low", Some("ml"));
    assert!(decide(&s, &key("client"), Action::Infer, Some(&fraud), &ctx).allowed);
    let diabetes = model("diabetes", "low", Some("ml"));
    let v = decide(&s, &key("client"), Action::Infer, Some(&diabetes), &ctx);
    assert!(!v.allowed && v.policies.is_empty());
    assert!(!decide(&s, &key("client"), Action::LoadModel, Some(&iris), &ctx).allowed);
    assert!(!decide(&s, &key("client"), Action::ManageKeys, None, &ctx).allowed);
    assert!(!decide(&s, &key("nobody"), Action::Infer, Some(&iris), &ctx).allowed);
    let v = decide(&s, &key("admin"), Action::ManageKeys, None, &ctx);
    assert!(v.allowed);
    assert_eq!(&*v.policies, ["role.admin.1.server"]);
    assert!(s.knows_role("analyst") && !s.knows_role("root"));
}

#[test]
fn only_mtls_services_may_call_high_risk_models() {
    let s = set(Some(&examples()));
    let scoring = model("fraud-scoring", "high", Some("risk-team"));
    // An admin API key is refused by the forbid, whatever its role grants.
    let v = decide(
        &s,
        &key("admin"),
        Action::Infer,
        Some(&scoring),
        &at(10, false),
    );
    assert!(!v.allowed);
    assert_eq!(&*v.policies, ["high-risk-needs-mtls-service"]);
    // The same model for an mTLS service with a role that permits it.
    let v = decide(
        &s,
        &service("admin"),
        Action::Infer,
        Some(&scoring),
        &at(10, true),
    );
    assert!(v.allowed, "{v:?}");
    // A service whose call came without a verified certificate is refused.
    assert!(
        !decide(
            &s,
            &service("admin"),
            Action::Infer,
            Some(&scoring),
            &at(10, false)
        )
        .allowed
    );
    // Low-risk models are unaffected.
    let low = model("iris", "low", Some("ml"));
    assert!(
        decide(
            &s,
            &key("client"),
            Action::Infer,
            Some(&low),
            &at(10, false)
        )
        .allowed
    );
}

#[test]
fn analysts_may_infer_on_fraud_models_in_business_hours_only() {
    let s = set(Some(&examples()));
    let fraud = model("fraud-cards", "medium", Some("risk-team"));
    let analyst = key("analyst");
    let v = decide(&s, &analyst, Action::Infer, Some(&fraud), &at(10, false));
    assert!(v.allowed);
    assert_eq!(&*v.policies, ["analysts-fraud-business-hours"]);
    assert!(!decide(&s, &analyst, Action::Infer, Some(&fraud), &at(8, false)).allowed);
    assert!(!decide(&s, &analyst, Action::Infer, Some(&fraud), &at(17, false)).allowed);
    let mut saturday = at(10, false);
    saturday.now += 4 * 86_400;
    assert!(!decide(&s, &analyst, Action::Infer, Some(&fraud), &saturday).allowed);
    let other = model("churn", "medium", Some("risk-team"));
    assert!(!decide(&s, &analyst, Action::Infer, Some(&other), &at(10, false)).allowed);
    // Business hours follow the configured offset: 08:30 UTC is 09:30 at +01:00.
    let (config, _) = Config::parse(Path::new("/x/palisade.toml"), ROLES).unwrap();
    let plus_one = compile(
        &schema().unwrap(),
        &config.roles.to_cedar(),
        Some(&examples()),
        &BTreeSet::new(),
        60,
    )
    .unwrap();
    assert!(
        decide(
            &plus_one,
            &analyst,
            Action::Infer,
            Some(&fraud),
            &at(8, false)
        )
        .allowed
    );
}

#[test]
fn nobody_may_infer_on_a_model_without_an_owner() {
    let s = set(Some(&examples()));
    let orphan = model("iris", "low", None);
    let v = decide(
        &s,
        &key("admin"),
        Action::Infer,
        Some(&orphan),
        &at(10, false),
    );
    assert!(!v.allowed);
    assert_eq!(&*v.policies, ["infer-needs-owner"]);
    // Metadata stays readable, so the caller learns why rather than that nothing exists.
    assert!(
        decide(
            &s,
            &key("admin"),
            Action::ReadMetadata,
            Some(&orphan),
            &at(10, false)
        )
        .allowed
    );
    let owned = model("iris", "low", Some("ml"));
    assert!(
        decide(
            &s,
            &key("admin"),
            Action::Infer,
            Some(&owned),
            &at(10, false)
        )
        .allowed
    );
}

#[test]
fn invalid_policies_are_refused_with_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema().unwrap();
    let write = |text: &str| std::fs::write(dir.path().join("p.cedar"), text).unwrap();
    let compile_dir = || compile(&schema, "", Some(dir.path()), &BTreeSet::new(), 0);

    write("permit (principal, action, resource)\nwhen { resource.riks == \"high\" };");
    let err = compile_dir().err().unwrap().to_string();
    assert!(err.contains("validation") && err.contains("riks"), "{err}");

    write("permit (principal, action, resource)\nwhen { resource.risk == };");
    let err = compile_dir().err().unwrap().to_string();
    assert!(err.contains("p.cedar") && err.contains("line 2"), "{err}");

    write("permit (principal == ?principal, action, resource);");
    assert!(compile_dir()
        .err()
        .unwrap()
        .to_string()
        .contains("templates"));

    write("@id(\"a\") permit (principal, action, resource);\n@id(\"a\") forbid (principal, action, resource);");
    assert!(compile_dir()
        .err()
        .unwrap()
        .to_string()
        .contains("used twice"));

    write("permit (principal in Role::\"ops\", action == Action::\"read_metrics\", resource);");
    let ok = compile_dir().unwrap();
    assert_eq!(ok.policy_ids(), ["p.1"]);
    assert!(ok.knows_role("ops"));
}
