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

/// The cluster whose title contains `needle`.
fn cluster<'a>(r: &'a serde_json::Value, needle: &str) -> &'a serde_json::Value {
    r["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["title"].as_str().unwrap_or_default().contains(needle))
        .unwrap_or_else(|| panic!("no cluster {needle:?} in {:?}", titles(r)))
}

fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn wolf_hms_postgres_refusals_explain_the_login_500s_only() {
    let r = analyze_json(
        &[],
        &file("cloudrun__wolf-hms__gcloud-json-utf16le-bom__pg-econnrefused-5xx.json"),
    );
    assert_eq!(r["summary"]["entries_read"], 10);
    let pg = cluster(&r, "PostgreSQL");
    assert_eq!(pg["count"], 2);
    assert_eq!(pg["revisions"].as_array().unwrap().len(), 2);
    let http = &pg["http_failures"];
    assert_eq!(
        (http["count"].as_u64(), http["linked_by_instance"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(http["routes"]["POST /api/auth/login"], 2, "{http:#}");
    // The setup-developer 500s stay a group of their own, with no cause in the file.
    let setup = cluster(&r, "setup-developer");
    assert_eq!(
        (setup["count"].as_u64(), setup["signature"]["kind"].as_str()),
        (Some(6), Some("http"))
    );
}

#[test]
fn pex_bc_errors_logged_at_info_are_found_and_nothing_else() {
    let r = analyze_json(
        &[],
        &file("cloudrun__pex-bc__gcloud-json__errors-logged-as-info-secret-403-model-404.json"),
    );
    assert_eq!(r["summary"]["entries_read"], 194);
    assert_eq!(r["summary"]["clusters_total"], 2, "{:?}", titles(&r));
    let secret = cluster(&r, "Secret Manager");
    assert_eq!(secret["count"], 4);
    let model = cluster(&r, "404 NOT_FOUND");
    assert_eq!(
        (model["count"].as_u64(), model["severity"].as_str()),
        (Some(4), Some("WARNING"))
    );
    // Logged at INFO: a rule knew them, and the report says so.
    for c in [secret, model] {
        assert_eq!(c["severity_source"], "rule", "{}", c["title"]);
    }
    assert!(!r["clusters"].to_string().contains("Job State"));
}

#[test]
fn nomad_traceback_is_titled_by_its_exception_and_explains_the_stats_500s() {
    let r = analyze_json(
        &[],
        &file(
            "cloudrun__nomad__gcloud-json-utf16le-bom__fastapi-traceback-5xx-db-env-missing.json",
        ),
    );
    let top = &r["clusters"][0];
    assert_eq!(top["count"], 2);
    let title = top["title"].as_str().unwrap();
    assert!(
        title.starts_with("Exception: Database connection failed: DB_HOST and DB_PASSWORD"),
        "{title}"
    );
    assert_eq!(top["signature"]["frame"], "app/main.py:get_db_connection");
    assert_eq!(top["http_failures"]["routes"]["GET /stats"], 2);
    let upload = cluster(&r, "POST /upload-report");
    assert_eq!(upload["signature"]["kind"], "http", "it stays unexplained");
}

#[test]
fn lfsd_job_failures_group_by_job_with_the_secret_denials_apart() {
    let r = analyze_json(
        &[],
        &file(
            "cloudrun-job__lfsd__gcloud-json-utf16le-bom__alembic-migration-fail-secret-denied.json",
        ),
    );
    assert_eq!(r["summary"]["entries_read"], 33);
    let secret_key = cluster(&r, "ValueError: SECRET_KEY must be set in production");
    let scram = cluster(&r, "ScramException: control characters forbidden");
    assert_eq!(
        (secret_key["count"].as_u64(), scram["count"].as_u64()),
        (Some(4), Some(7))
    );
    for c in [secret_key, scram] {
        assert_eq!(names(&c["services"]), ["migrate-db"]);
        assert!(
            c["revisions"].as_array().unwrap().is_empty(),
            "a job has no revisions"
        );
    }
    assert_eq!(cluster(&r, "Container called exit(1)")["count"], 11);
    assert_eq!(cluster(&r, "has failed to complete")["count"], 2);
    assert_eq!(cluster(&r, "Secret Manager")["count"], 2);
}

#[test]
fn orchestra_ci_sqlite_crash_on_both_revisions_with_its_lines_folded_in() {
    let r = analyze_json(
        &[],
        &file(
            "cloudrun__orchestra-ci__gcloud-json-utf16le-bom__sqlite-malformed-crashloop-image-missing.json",
        ),
    );
    let crash = cluster(&r, "SqliteError: database disk image is malformed");
    assert_eq!(crash["count"], 2);
    assert_eq!(crash["revisions"].as_array().unwrap().len(), 2);
    assert!(crash["joined_lines"].as_u64().unwrap() >= 10, "{crash:#}");
    assert!(
        crash["signature"]["frame"]
            .as_str()
            .unwrap()
            .contains("server.ts")
    );
    assert!(
        crash["exemplars"][0]["message"]
            .as_str()
            .unwrap()
            .contains("SQLITE_CORRUPT")
    );
    cluster(&r, "not found");
    cluster(&r, "startup TCP probe failed");
    for t in titles(&r) {
        assert!(
            !t.starts_with("Node.js") && !t.starts_with("code:") && t != "}",
            "{t}"
        );
    }
}

#[test]
fn adeptify_capture_500s_stay_unlinked_and_the_syntax_error_apart() {
    let r = analyze_json(
        &[],
        &file("cloudrun__adeptify__gcloud-json__5xx-slow-requests-bodyparser-syntaxerror.json"),
    );
    let capture = cluster(&r, "POST /api/automation/capture");
    assert_eq!(
        (
            capture["count"].as_u64(),
            capture["signature"]["kind"].as_str()
        ),
        (Some(12), Some("http"))
    );
    // Four were slow (timeouts), the others fast: the report tells them apart.
    let latency = capture["whys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["question"] == "How long did the failed requests take?")
        .expect("a latency why");
    let answer = latency["answer"].as_str().unwrap();
    assert!(
        answer.contains("4 took 31.0 s–43.2 s (10–60 s)") && answer.contains("; 8 took"),
        "{answer}"
    );
    let syntax = cluster(&r, "SyntaxError: Expected property name");
    assert_eq!(syntax["count"], 2);
    assert_eq!(
        syntax["http_failures"]["count"], 0,
        "not presented as the 500s' cause"
    );
    let probe = cluster(&r, "startup TCP probe failed");
    let revisions = names(&probe["revisions"]);
    assert!(
        revisions
            .iter()
            .all(|r| r.contains("00210") || r.contains("00211")),
        "{revisions:?}"
    );
}

#[test]
fn vc3_yaml_fastify_crash_loop_and_the_missing_secret_volumes() {
    let r = analyze_json(
        &[],
        &file("cloudrun__vc-3__gcloud-yaml-multidoc__fastify-redis-plugin-timeout-crashloop.yaml"),
    );
    assert_eq!(r["summary"]["entries_read"], 81);
    assert_eq!(r["summary"]["entries_skipped"], 0);
    let crash = cluster(&r, "Plugin did not start in time: '@fastify/redis'");
    assert_eq!(crash["count"], 3);
    assert_eq!(crash["revisions"].as_array().unwrap().len(), 3);
    assert!(crash["joined_lines"].as_u64().unwrap() >= 30, "{crash:#}");
    let secrets = cluster(&r, "Secret Manager");
    assert_eq!(names(&secrets["revisions"]).len(), 2);
    for t in titles(&r) {
        assert!(
            !t.contains("AVV_ERR_PLUGIN_EXEC_TIMEOUT") || t.contains("Plugin"),
            "{t}"
        );
        assert!(
            !t.contains("About to register"),
            "pino level 30 is info: {t}"
        );
    }
}

#[test]
fn gcpdiag_wrapper_gives_three_function_problems() {
    let r = analyze_json(
        &[],
        &file(
            "functions__gcpdiag-gcf2__entries-list-wrapper__memory-limit-exceeded-orgpolicy.json",
        ),
    );
    assert_eq!(r["summary"]["entries_read"], 50);
    assert_eq!(r["summary"]["clusters_total"], 3, "{:?}", titles(&r));
    let memory = cluster(&r, "memory limit exceeded");
    assert_eq!(
        (memory["count"].as_u64(), names(&memory["services"])),
        (Some(6), vec!["gcf2".to_string()])
    );
    assert_eq!(cluster(&r, "Org Policies")["count"], 2);
    let build = cluster(&r, "Build failed");
    assert_eq!(build["count"], 1);
    // The JSON after the prefix is read as fields: a title that reads, keys kept.
    assert_eq!(build["title"], "Build failed: OK");
    let key = build["signature"]["key"].as_str().unwrap();
    assert!(
        key.contains("errorType=OK") && key.contains("buildpackId="),
        "{key}"
    );
    assert!(
        !r["clusters"]
            .to_string()
            .contains("Function execution started")
    );
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("one page of a longer result"),
        "{warnings}"
    );
}
