#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

use fifo_pingd::daemon::args::{self as cli, Command, PROGRAM};
use fifo_pingd::daemon::{self, reload};
use fifo_pingd::exit::Failure;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.exit(PROGRAM),
    }
}

fn run() -> Result<(), Failure> {
    let options = cli::parse(std::env::args_os().skip(1))?;
    let location = options.location();
    match options.command {
        Command::Help => print!("{}", *cli::HELP),
        Command::Version => println!("{PROGRAM} {}", env!("CARGO_PKG_VERSION")),
        Command::CheckConfig => {
            print!("{}", daemon::check_config(&location, &options.overrides())?)
        }
        Command::Reload => match reload::reload_and_wait() {
            Ok(line) => println!("{line}"),
            Err(e) => {
                return Err(Failure {
                    code: e.exit_code(),
                    message: e.to_string(),
                });
            }
        },
        Command::Run => daemon::run(location, options.overrides())?,
    }
    Ok(())
}
