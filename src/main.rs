//! The `inferbench` binary: parse arguments, set up logging, run, map errors to exit codes.

use clap::Parser;

fn main() {
    let cli = inferbench::cli::Cli::parse();
    inferbench::init_tracing(cli.verbose);
    let code = match inferbench::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            inferbench::exit::exit_code(&err)
        }
    };
    std::process::exit(code);
}
