//! `danekit manpages DIR`: one page per command (nested commands too), each holding every
//! option and argument its `--help` shows, rendered by man-db and groff without a warning, the
//! same bytes on every run.
//!
//! With `CI=true` a missing `man` or `groff` fails the rendering test; without it the test
//! prints `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;

use support::interop::{TempDir, danekit_bin, describe, require_tool, run, run_with_env};

/// The command paths of every visible command, the top level first: `[]`, `["tlsa"]`,
/// `["rollover", "check"]`, …
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for sub in cmd.get_subcommands() {
            if sub.is_hide_set() || sub.get_name() == "help" {
                continue;
            }
            path.push(sub.get_name().to_owned());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut cmd = danekit::cli::command();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut Vec::new(), &mut out);
    out
}

fn page_name(path: &[String]) -> String {
    let mut name = String::from("danekit");
    for word in path {
        name.push('-');
        name.push_str(word);
    }
    format!("{name}.1")
}

/// Writes the pages into a fresh directory and returns it.
fn write_pages(label: &str) -> TempDir {
    let dir = TempDir::new(label);
    let out = run(
        danekit_bin(),
        &[OsStr::new("manpages"), dir.path().as_os_str()],
        None,
    );
    assert!(
        out.status.success(),
        "danekit manpages: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The page's text with roff escapes undone where they touch option names: `\-` is a hyphen,
/// font changes are dropped.
fn plain(roff: &str) -> String {
    roff.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\*(Aq", "'")
}

/// The options (`-o`, `--output`) and argument names (`SERVICES.yaml`) that `--help` lists.
fn help_items(help: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut section = "";
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line;
            continue;
        }
        let trimmed = line.trim_start();
        if line.len() - trimmed.len() < 2 || line.len() - trimmed.len() > 6 {
            continue;
        }
        if section == "Arguments:" {
            if let Some(word) = trimmed.split_whitespace().next() {
                let name = word.trim_end_matches("...");
                let name = name
                    .trim_start_matches(['<', '['])
                    .trim_end_matches(['>', ']']);
                items.push(name.to_owned());
            }
        } else if section.ends_with("ptions:") && trimmed.starts_with('-') {
            for word in trimmed.split_whitespace() {
                let word = word.trim_end_matches(',');
                if !word.starts_with('-') {
                    break;
                }
                items.push(word.split('=').next().unwrap().to_owned());
            }
        }
    }
    items
}

#[test]
fn every_command_has_a_page_with_its_help_options() {
    let dir = write_pages("manpages-options");
    let paths = command_paths();
    let expected: BTreeSet<String> = paths.iter().map(|p| page_name(p)).collect();
    assert_eq!(
        files_in(dir.path()),
        expected,
        "one page per command, no other file"
    );
    for required in [
        "danekit.1",
        "danekit-tlsa.1",
        "danekit-verify.1",
        "danekit-rollover-check.1",
        "danekit-rollover-next-key.1",
        "danekit-completions.1",
    ] {
        assert!(expected.contains(required), "{required} in {expected:?}");
    }
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = run(danekit_bin(), &args, None);
        assert!(out.status.success(), "{}", describe(danekit_bin(), &args));
        let help = String::from_utf8(out.stdout).unwrap();
        let items = help_items(&help);
        assert!(
            items.iter().any(|i| i == "--help"),
            "{}: no options read from\n{help}",
            describe(danekit_bin(), &args)
        );
        let name = page_name(path);
        let roff = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let text = plain(&roff);
        for item in &items {
            assert!(
                text.contains(item.as_str()),
                "{name} lacks {item}, which `{}` shows",
                describe("danekit", &args)
            );
        }
        let synopsis = format!("danekit {}", path.join(" "));
        assert!(
            text.contains(synopsis.trim_end()),
            "{name}: no synopsis `{synopsis}`"
        );
        if !path.is_empty() {
            assert!(
                text.contains("danekit(1)"),
                "{name}: no SEE ALSO danekit(1)"
            );
        }
    }
}

#[test]
fn the_top_page_lists_every_command() {
    let dir = write_pages("manpages-top");
    let text = plain(&std::fs::read_to_string(dir.path().join("danekit.1")).unwrap());
    for path in command_paths().iter().filter(|p| p.len() == 1) {
        let reference = format!("{}(1)", page_name(path).trim_end_matches(".1"));
        assert!(text.contains(&reference), "danekit.1 lacks {reference}");
    }
    assert!(
        text.contains("Exit codes"),
        "danekit.1 lacks the exit codes"
    );
}

#[test]
fn pages_are_the_same_on_every_run_and_replace_old_ones() {
    let first = write_pages("manpages-run1");
    let second = TempDir::new("manpages-run2");
    std::fs::write(second.path().join("danekit.1"), "old page\n").unwrap();
    let out = run(
        danekit_bin(),
        &[OsStr::new("manpages"), second.path().as_os_str()],
        None,
    );
    assert!(out.status.success());
    assert_eq!(files_in(first.path()), files_in(second.path()));
    for name in files_in(first.path()) {
        let a = std::fs::read(first.path().join(&name)).unwrap();
        let b = std::fs::read(second.path().join(&name)).unwrap();
        assert_eq!(a, b, "{name} differs between two runs");
        assert!(!String::from_utf8_lossy(&a).contains("old page"));
    }
}

#[test]
fn a_directory_that_cannot_be_made_is_exit_2() {
    let dir = TempDir::new("manpages-file");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = run(
        danekit_bin(),
        &[OsStr::new("manpages"), file.as_os_str()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("not-a-dir"), "{stderr}");
}

#[test]
fn pages_render_without_warnings() {
    let Some(man) = require_tool("man", "man-db") else {
        return;
    };
    let Some(groff) = require_tool("groff", "groff-base") else {
        return;
    };
    let dir = write_pages("manpages-render");
    let env: [(&str, &OsStr); 4] = [
        ("MANWIDTH", OsStr::new("80")),
        ("MANPAGER", OsStr::new("cat")),
        ("PAGER", OsStr::new("cat")),
        ("LC_ALL", OsStr::new("C.UTF-8")),
    ];
    for name in files_in(dir.path()) {
        let page = dir.path().join(&name);
        let args = [OsStr::new("--warnings"), OsStr::new("-l"), page.as_os_str()];
        let out = run_with_env(&man, &args, None, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{}: {:?}\n{stderr}",
            describe(&man, &args),
            out.status
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let title = name.trim_end_matches(".1").to_uppercase();
        assert!(
            text.starts_with(&format!("{title}(1)")),
            "{name}: rendered title\n{text}"
        );
        assert!(text.contains("danekit manual"), "{name}: manual name");
        for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"] {
            assert!(
                text.lines().any(|l| l == heading),
                "{name}: no {heading}\n{text}"
            );
        }
        assert!(
            text.lines().all(|l| l.chars().count() <= 80),
            "{name}: a line wider than MANWIDTH\n{text}"
        );
        let args = [
            OsStr::new("-man"),
            OsStr::new("-Tutf8"),
            OsStr::new("-ww"),
            OsStr::new("-z"),
            page.as_os_str(),
        ];
        let out = run_with_env(&groff, &args, None, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{}: {:?}\n{stderr}",
            describe(&groff, &args),
            out.status
        );
    }
}
