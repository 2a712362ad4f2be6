//! `danekit manpages` and `danekit completions`: manual pages and shell completion scripts,
//! generated from the clap definitions, so that they always say what `--help` says.
//!
//! The output is deterministic (no dates, no paths of the build machine), so a package built
//! twice from the same source holds the same pages and scripts.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::output::{verbose, write_stdout};
use super::{Context, Exit, Failure};
use crate::env::{self, Env};
use crate::text;

#[derive(Debug, Args)]
#[command(
    after_help = "Writes danekit.1 and one page per command (danekit-tlsa.1, \
                  danekit-rollover-check.1, …); install them in a man1 directory, e.g. \
                  /usr/local/share/man/man1.\n\
                  Example:\n  \
                  danekit manpages /usr/local/share/man/man1 && man danekit-tlsa"
)]
pub struct ManpagesArgs {
    /// Directory to write the pages into; made if missing, existing pages are replaced
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Install the script where the shell looks for completions:\n  \
                  bash: /usr/share/bash-completion/completions/danekit \
                  (or ~/.local/share/bash-completion/completions/danekit)\n  \
                  zsh:  a directory of $fpath, as _danekit\n  \
                  fish: ~/.config/fish/completions/danekit.fish\n\
                  Example:\n  \
                  danekit completions bash > ~/.local/share/bash-completion/completions/danekit"
)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

/// The shells `danekit completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// One manual page: its file name (`danekit-rollover-check.1`) and its roff text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    pub file_name: String,
    pub roff: Vec<u8>,
}

/// The manual pages of the command line: `danekit.1`, then one page per visible command and
/// nested command, depth first in the order of `--help`.
pub fn render_manpages() -> Vec<ManPage> {
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect_pages(&cmd, None, &mut pages);
    pages
}

/// The completion script for `shell`.
pub fn render_completions(shell: Shell) -> Vec<u8> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = super::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "danekit", &mut out);
    out
}

fn collect_pages(cmd: &clap::Command, parent: Option<&str>, pages: &mut Vec<ManPage>) {
    let name = page_name(cmd);
    let children: Vec<&clap::Command> =
        cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    let mut rendered = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut rendered);
    let mut roff = Vec::with_capacity(rendered.len() + 256);
    // clap_mangen writes an empty date as nothing rather than as "", which shifts the source
    // and manual into the wrong fields of `.TH`; the title line is written here instead, with
    // an empty date so that the page does not change from one build to the next.
    for line in rendered.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".TH ") {
            roff.extend_from_slice(
                format!(
                    ".TH {} 1 \"\" \"danekit {}\" \"danekit manual\"\n",
                    name.to_uppercase().replace('-', "\\-"),
                    env!("CARGO_PKG_VERSION")
                )
                .as_bytes(),
            );
        } else if line == b".SH EXTRA\n" {
            // The text after the options (formats, exit codes, examples): NOTES in man-pages(7).
            roff.extend_from_slice(b".SH NOTES\n");
        } else {
            roff.extend_from_slice(line);
        }
    }
    // danekit(1), the parent command's page, and the pages of the commands under this one.
    let mut see_also: Vec<String> = Vec::new();
    if parent.is_some_and(|p| p != "danekit") {
        see_also.push("danekit".to_owned());
    }
    see_also.extend(parent.map(str::to_owned));
    see_also.extend(children.iter().map(|c| page_name(c)));
    if !see_also.is_empty() {
        roff.extend_from_slice(b".SH \"SEE ALSO\"\n");
        let refs: Vec<String> = see_also
            .iter()
            .map(|n| format!("\\fB{}\\fR(1)", n.replace('-', "\\-")))
            .collect();
        roff.extend_from_slice(refs.join(", ").as_bytes());
        roff.push(b'\n');
    }
    pages.push(ManPage {
        file_name: format!("{name}.1"),
        roff: escape_non_ascii(&roff),
    });
    for child in children {
        collect_pages(child, Some(&name), pages);
    }
}

/// Writes each non-ASCII character as the groff escape `\[uXXXX]`, so that the page renders
/// the same through `groff -man` (which reads Latin-1) as through man-db (which converts UTF-8
/// first with `preconv`): `§`, `…` and `×` appear in the help texts.
fn escape_non_ascii(roff: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(roff);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out.into_bytes()
}

/// `danekit`, `danekit-tlsa`, `danekit-rollover-check`: the name clap gives a built command.
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

/// `danekit manpages DIR`: every page written atomically into `DIR`, made if missing.
pub fn run_manpages(
    args: &ManpagesArgs,
    ctx: &Context,
    env: &mut dyn Env,
) -> Result<Exit, Failure> {
    let shown = |p: &Path| text::escape_bytes(p.as_os_str().as_encoded_bytes());
    std::fs::create_dir_all(&args.dir).map_err(|e| {
        Failure::input(anyhow::anyhow!(
            "{}: cannot make the directory: {e}",
            shown(&args.dir)
        ))
    })?;
    for page in render_manpages() {
        let path = args.dir.join(&page.file_name);
        env::write_atomic(&path, &page.roff)
            .map_err(|e| Failure::input(anyhow::anyhow!("{}: cannot write: {e}", shown(&path))))?;
        verbose(env, ctx, &format!("wrote {}", shown(&path)));
    }
    Ok(Exit::Ok)
}

/// `danekit completions SHELL`: the script on stdout.
pub fn run_completions(args: &CompletionsArgs, env: &mut dyn Env) -> Result<Exit, Failure> {
    let script = render_completions(args.shell);
    let script = String::from_utf8(script)
        .map_err(|e| Failure::input(anyhow::anyhow!("the completion script is not UTF-8: {e}")))?;
    write_stdout(env, &script)?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_named_after_their_commands() {
        let names: Vec<String> = render_manpages().into_iter().map(|p| p.file_name).collect();
        for expected in [
            "danekit.1",
            "danekit-tlsa.1",
            "danekit-verify.1",
            "danekit-rollover.1",
            "danekit-rollover-check.1",
            "danekit-rollover-next-key.1",
            "danekit-manpages.1",
            "danekit-completions.1",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(render_manpages(), render_manpages());
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            assert_eq!(render_completions(shell), render_completions(shell));
        }
    }

    #[test]
    fn pages_are_ascii() {
        for page in render_manpages() {
            assert!(page.roff.is_ascii(), "{}", page.file_name);
        }
        assert_eq!(
            escape_non_ascii("§ 6, a…b".as_bytes()),
            b"\\[u00A7] 6, a\\[u2026]b"
        );
    }

    #[test]
    fn pages_carry_no_date() {
        for page in render_manpages() {
            let text = String::from_utf8_lossy(&page.roff);
            let title = text
                .lines()
                .find(|l| l.starts_with(".TH"))
                .unwrap_or_default();
            assert!(title.contains("\"\""), "{}: {title}", page.file_name);
        }
    }
}
