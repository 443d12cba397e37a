//! The core reports what it cannot put in an error (a spool record that does not decode, a
//! spool folder it cannot write) through the `log` facade; a host prints those lines on
//! stderr, where its other messages go, prefixed with its name.

use std::io::Write;

use log::LevelFilter;

/// Warnings and errors on stderr as `PROGRAM: warning: message`; `WAFERMON_LOG` (an
/// env_logger filter such as `info`) changes the level. Once per process; a later call
/// changes nothing.
pub fn log_to_stderr(program: &'static str) {
    let _ = env_logger::Builder::new()
        .filter_level(LevelFilter::Warn)
        .parse_env("WAFERMON_LOG")
        .format(move |out, record| {
            let level = record.level().as_str().to_ascii_lowercase();
            writeln!(out, "{program}: {level}: {}", record.args())
        })
        .try_init();
}
