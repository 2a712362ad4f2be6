use std::process::ExitCode;

fn main() -> ExitCode {
    let mut env = danekit::env::RealEnv::new();
    let code = danekit::cli::run(std::env::args_os(), &mut env);
    ExitCode::from(code)
}
