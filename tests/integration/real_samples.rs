//! The real Cloud Run exports in `../shared/gcp-real-samples/`: the expected clusters
//! come out on top, split traces are joined, UTF-16 files are read.

use crate::{analyze_json, shared, titles};

fn file(name: &str) -> std::path::PathBuf {
    shared(&format!("gcp-real-samples/{name}"))
}

#[test]
fn donecast_utf16_python_traceback_links_the_500s() {
    let r = analyze_json(
        &[],
        &file("cloudrun__donecast__gcloud-json-utf16__py-tracebacks-4xx-5xx.json"),
    );
    assert_eq!(r["summary"]["entries_read"], 50);
    let top = &r["clusters"][0];
    assert_eq!(top["count"], 8, "{top:#}");
    assert_eq!(top["severity"], "ERROR");
    assert!(
        top["title"]
            .as_str()
            .unwrap()
            .contains("HTTPException: 429"),
        "{}",
        top["title"]
    );
    assert_eq!(top["signature"]["kind"], "stack");
    assert_eq!(top["signature"]["frame"], "core/rate_limiter.py:dispatch");
    assert_eq!(
        top["http_failures"]["count"], 8,
        "the 8 HTTP 500s are evidence of the traceback"
    );
    assert_eq!(top["http_failures"]["statuses"]["500"], 8);
    // No cluster of unlinked 500s remains; 4xx are lower-ranked client noise.
    for c in r["clusters"].as_array().unwrap().iter().skip(1) {
        assert_eq!(c["severity"], "WARNING", "{}", c["title"]);
    }
}

#[test]
fn synapseai_startup_crash_folds_its_continuation_lines() {
    let r = analyze_json(
        &[],
        &file("cloudrun__synapseai__gcloud-json__startup-crash-traceback.json"),
    );
    let clusters = r["clusters"].as_array().unwrap();
    let crash = clusters
        .iter()
        .find(|c| c["rule"] == "python-settings-validation-error")
        .expect("a startup-crash cluster");
    assert_eq!(crash["count"], 1);
    assert_eq!(
        crash["joined_lines"], 12,
        "the 12 split detail lines are joined"
    );
    let msg = crash["exemplars"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("DATABASE_URL") && msg.contains("FIELD_ENCRYPTION_KEY"),
        "{msg}"
    );
    for t in titles(&r) {
        assert!(
            !t.starts_with("Field required") && t != "DATABASE_URL",
            "bogus cluster {t}"
        );
    }
    assert_eq!(r["summary"]["entries_joined"], 12);
}

#[test]
fn pmomax_node_frames_rejoin_into_two_clusters() {
    let r = analyze_json(
        &[],
        &file("cloudrun__pmomax__gcloud-json__node-stack-split-per-line.json"),
    );
    let t = titles(&r);
    assert!(
        t[0].contains("extraction failed") && t[1].contains("extraction failed"),
        "{t:?}"
    );
    assert!(
        t.iter().any(|x| x.contains("DOCX")) && t.iter().any(|x| x.contains("PDF")),
        "{t:?}"
    );
    for c in &r["clusters"].as_array().unwrap()[..2] {
        assert!(
            c["joined_lines"].as_u64().unwrap() >= 4,
            "frames joined: {c:#}"
        );
        assert!(!c["title"].as_str().unwrap().trim_start().starts_with("at "));
    }
    assert!(
        t.iter().all(|x| !x.trim_start().starts_with("at ")),
        "no frame forms a cluster of its own: {t:?}"
    );
}

#[test]
fn stadium_utf16_go_crashloop_is_one_secret_access_cluster() {
    let r = analyze_json(
        &[],
        &file("cloudrun__stadium__gcloud-json-utf16__go-crashloop.json"),
    );
    let clusters = r["clusters"].as_array().unwrap();
    let secret: Vec<_> = clusters
        .iter()
        .filter(|c| {
            c["title"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("secret")
        })
        .collect();
    assert_eq!(
        secret.len(),
        1,
        "one secret-access cluster: {:?}",
        titles(&r)
    );
    let s = secret[0];
    assert_eq!(s["count"], 5);
    assert!(s["revisions"].as_array().unwrap().len() >= 4, "{s:#}");
    assert!(s["rule"].is_string(), "claimed by a rule");
    assert!(
        s["rank"].as_u64().unwrap() <= 3,
        "near the top: {:?}",
        titles(&r)
    );
    assert!(
        titles(&r).iter().any(|t| t.contains("probe failed")),
        "probe failures are the symptom"
    );
    assert!(
        titles(&r).iter().all(|t| !t.starts_with("error details")),
        "detail lines are joined"
    );
}

#[test]
fn verityngn_payload_level_is_the_severity() {
    let r = analyze_json(
        &[],
        &file("cloudrun__verityngn__gcloud-json__jsonpayload-level-tracebacks.json"),
    );
    let top = &r["clusters"][0];
    assert!(
        top["title"]
            .as_str()
            .unwrap()
            .starts_with("ValueError: Multimodal analysis failed"),
        "{top:#}"
    );
    assert_eq!(top["count"], 3);
    let wf = r["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"].as_str().unwrap().contains("[WORKFLOW] Task"))
        .expect("the jsonPayload level:ERROR message is clustered");
    assert_eq!(wf["severity"], "ERROR", "severity from jsonPayload.level");
}
