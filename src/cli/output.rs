//! Printers shared by the commands: findings on stderr, JSON documents on stdout.

use serde::Serialize;

use super::{Context, Failure};
use crate::env::Env;
use crate::report::Finding;

/// The `-o` format of a command: its first format when none is given; otherwise one of its
/// formats, or exit 2 naming them (`-o x: zone writes zone, nsupdate, knotc or json`).
pub fn output_format<F: clap::ValueEnum>(text: Option<&str>, command: &str) -> Result<F, Failure> {
    let names: Vec<String> = F::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
        .collect();
    let text = text
        .or(names.first().map(String::as_str))
        .unwrap_or_default();
    F::from_str(text, false).map_err(|_| {
        let list = match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        Failure::input(anyhow::anyhow!(
            "-o {}: {command} writes {list}",
            crate::text::clip(text)
        ))
    })
}

/// Prints findings as `warning: SUBJECT: MESSAGE` lines on stderr, unless `-q`.
pub fn print_findings(env: &mut dyn Env, ctx: &Context, findings: &[Finding]) {
    if ctx.quiet {
        return;
    }
    let err = env.stderr();
    for f in findings {
        let _ = writeln!(err, "{}: {}: {}", f.severity.as_str(), f.subject, f.message);
    }
}

/// Prints a line on stderr with `-v`.
pub fn verbose(env: &mut dyn Env, ctx: &Context, line: &str) {
    if ctx.verbose {
        let _ = writeln!(env.stderr(), "{line}");
    }
}

/// Writes one JSON document and a newline on stdout.
pub fn print_json<T: Serialize>(env: &mut dyn Env, doc: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| Failure::input(anyhow::anyhow!("cannot encode JSON: {e}")))?;
    write_stdout(env, &format!("{text}\n"))
}

/// Writes text on stdout. A full disk or another write error is reported; a reader that
/// went away (`danekit … | head -1`) is not an error, as with other Unix filters.
pub fn write_stdout(env: &mut dyn Env, text: &str) -> Result<(), Failure> {
    let out = env.stdout();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::input(anyhow::anyhow!(
            "cannot write to standard output: {e}"
        ))),
    }
}
