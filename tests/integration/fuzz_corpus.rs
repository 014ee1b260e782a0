//! The fuzz corpus and the crashes fuzzing found (`fuzz/corpus/TARGET`,
//! `fuzz/regressions/TARGET`), replayed through the same functions the fuzz targets
//! call, on stable: a fixed crash stays fixed without nightly or cargo-fuzz. See
//! `fuzz/README.md`.

use std::path::PathBuf;

use gcp_triage::fuzzing;

use crate::root;

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// Runs every file of the target's corpus (which must not be empty) and regressions
/// through `run`; names every file that panics.
fn replay(target: &str, run: fn(&[u8])) {
    let mut replayed = 0;
    let mut failed = Vec::new();
    for folder in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(folder).join(target);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect(),
            Err(_) if folder == "regressions" => continue,
            Err(e) => panic!("{}: {e}", dir.display()),
        };
        assert!(
            folder == "regressions" || !files.is_empty(),
            "{} is empty: nothing would be replayed",
            dir.display()
        );
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failed.push(file.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {replayed} inputs panic (messages above):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        /// Every fuzz target, by name.
        const TARGETS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), fuzzing::$name);
            }
        )*
    };
}

targets!(
    read_ndjson,
    read_array,
    read_wrapper,
    read_concatenated,
    read_text,
    read_yaml,
    read_gzip,
    read_utf16,
    entry_json,
    fallback_masker,
    stitcher,
    rule_loader,
    github_marker,
    template_filters,
);

/// Every fuzz target, every corpus and every regression folder is one of the targets
/// replayed here.
#[test]
fn every_target_is_replayed() {
    let names = |dir: PathBuf, strip: &str| {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .map(|n| n.strip_suffix(strip).unwrap_or(&n).to_string())
            .collect();
        names.sort();
        names
    };
    let mut expected: Vec<String> = TARGETS.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(names(fuzz_dir().join("fuzz_targets"), ".rs"), expected);
    assert_eq!(names(fuzz_dir().join("corpus"), ""), expected);
    for folder in names(fuzz_dir().join("regressions"), "") {
        assert!(
            expected.contains(&folder),
            "regressions/{folder}: no such target"
        );
    }
}
