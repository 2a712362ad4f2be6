//! `danekit completions bash|zsh|fish`: each script parses in its shell (`bash -n`, `zsh -n`,
//! `fish --no-execute`), bash and fish complete command names and option values with it, and
//! the output is the same on every run.
//!
//! With `CI=true` a missing shell fails its test; without it the test prints `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::ffi::OsStr;
use std::path::Path;

use support::interop::{TempDir, danekit_bin, describe, require_tool, run};

/// The script for `shell`, written into `dir`.
fn script(shell: &str, dir: &Path) -> std::path::PathBuf {
    let out = run(danekit_bin(), &["completions", shell], None);
    assert!(
        out.status.success(),
        "danekit completions {shell}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "danekit completions {shell}: empty");
    let again = run(danekit_bin(), &["completions", shell], None);
    assert_eq!(
        out.stdout, again.stdout,
        "{shell}: differs between two runs"
    );
    let path = dir.join(format!("danekit.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Runs `shell args` and returns stdout; fails the test on a non-zero exit or any stderr.
fn shell_ok(shell: &Path, args: &[&OsStr]) -> String {
    let out = run(shell, args, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{}: {:?}\n{stderr}",
        describe(shell, args),
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash's programmable completion offers for `line` (completed at its end).
fn bash_complete(bash: &Path, script: &Path, line: &str) -> Vec<String> {
    let program = format!(
        "source \"$1\"\n\
         COMP_LINE=\"$2\"; COMP_POINT=${{#COMP_LINE}}\n\
         read -r -a COMP_WORDS <<< \"$2\"\n\
         {}\
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         _danekit danekit \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        if line.ends_with(' ') {
            "COMP_WORDS+=(\"\")\n"
        } else {
            ""
        }
    );
    let args = [
        OsStr::new("--norc"),
        OsStr::new("-c"),
        OsStr::new(&program),
        OsStr::new("bash"),
        script.as_os_str(),
        OsStr::new(line),
    ];
    shell_ok(bash, &args)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_script_parses_and_completes() {
    let Some(bash) = require_tool("bash", "bash") else {
        return;
    };
    let dir = TempDir::new("completions-bash");
    let script = script("bash", dir.path());
    shell_ok(&bash, &[OsStr::new("-n"), script.as_os_str()]);
    let offered = bash_complete(&bash, &script, "danekit roll");
    assert_eq!(offered, ["rollover"], "danekit roll<TAB>");
    let offered = bash_complete(&bash, &script, "danekit rollover ");
    for sub in ["check", "plan", "next-key"] {
        assert!(offered.iter().any(|o| o == sub), "{sub} in {offered:?}");
    }
    let offered = bash_complete(&bash, &script, "danekit tlsa --starttls ");
    for mode in ["smtp", "imap", "pop3", "none"] {
        assert!(offered.iter().any(|o| o == mode), "{mode} in {offered:?}");
    }
    let offered = bash_complete(&bash, &script, "danekit completions ");
    for shell in ["bash", "zsh", "fish"] {
        assert!(offered.iter().any(|o| o == shell), "{shell} in {offered:?}");
    }
}

#[test]
fn zsh_script_parses() {
    let Some(zsh) = require_tool("zsh", "zsh") else {
        return;
    };
    let dir = TempDir::new("completions-zsh");
    let script = script("zsh", dir.path());
    shell_ok(&zsh, &[OsStr::new("-n"), script.as_os_str()]);
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.starts_with("#compdef danekit"),
        "zsh: no #compdef line"
    );
}

#[test]
fn fish_script_parses_and_completes() {
    let Some(fish) = require_tool("fish", "fish") else {
        return;
    };
    let dir = TempDir::new("completions-fish");
    let script = script("fish", dir.path());
    shell_ok(&fish, &[OsStr::new("--no-execute"), script.as_os_str()]);
    let complete = |line: &str| -> Vec<String> {
        let program = format!("source {}; complete -C '{line}'", script.display());
        shell_ok(
            &fish,
            &[
                OsStr::new("--no-config"),
                OsStr::new("-c"),
                OsStr::new(&program),
            ],
        )
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect()
    };
    let offered = complete("danekit rollover ");
    for sub in ["check", "plan", "next-key"] {
        assert!(offered.iter().any(|o| o == sub), "{sub} in {offered:?}");
    }
    let offered = complete("danekit tlsa --starttls ");
    for mode in ["smtp", "imap", "pop3", "none"] {
        assert!(offered.iter().any(|o| o == mode), "{mode} in {offered:?}");
    }
}

#[test]
fn an_unknown_shell_is_exit_2() {
    let out = run(danekit_bin(), &["completions", "tcsh"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bash, zsh, fish"), "{stderr}");
    assert!(out.stdout.is_empty());
}
