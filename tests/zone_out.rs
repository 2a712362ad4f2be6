//! `danekit zone --out FILE`: the file is written whole or not at all. An error (a bad services
//! file, a directory that does not exist) leaves the old file as it was and no temporary file
//! behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn danekit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_danekit"))
        .args(args)
        .output()
        .expect("run danekit")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/example.test/services.yaml")
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("danekit-zone-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn out_writes_what_stdout_would_show() {
    let dir = scratch();
    let out = dir.join("tlsa.zone");
    std::fs::write(&out, "old contents\n").unwrap();
    let example = example();
    let shown = danekit(&["zone", example.to_str().unwrap()]);
    assert_eq!(shown.status.code(), Some(0));
    let written = danekit(&[
        "zone",
        example.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        written.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert!(written.stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), shown.stdout);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file left"
    );

    // A services file with an error: exit 2, the old file untouched.
    std::fs::write(&out, "old contents\n").unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "zone: example.test.\nservices:\n  - host: mail\n    ports: [0]\n",
    )
    .unwrap();
    let failed = danekit(&[
        "zone",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(failed.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old contents\n");

    // A directory that does not exist: exit 2 naming the file, nothing written anywhere.
    let nowhere = dir.join("no/such/dir/tlsa.zone");
    let failed = danekit(&[
        "zone",
        example.to_str().unwrap(),
        "--out",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(failed.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("cannot write") && stderr.contains("the file is unchanged"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn out_does_not_go_with_diff_or_apply() {
    let example = example();
    for extra in [["--diff", "x.db"], ["--apply", "--apply"]] {
        let mut args = vec!["zone", example.to_str().unwrap(), "--out", "x.zone"];
        args.extend(extra.iter().take(if extra[0] == "--apply" { 1 } else { 2 }));
        let out = danekit(&args);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    }
}
