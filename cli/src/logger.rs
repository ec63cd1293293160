//! A tiny stderr logger for the `log` facade (no extra dependencies).

use log::{Level, LevelFilter, Log, Metadata, Record};

#[derive(Debug)]
struct StderrLogger {
    prog: &'static str,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{}: {}", self.prog, record.args());
        }
    }

    fn flush(&self) {}
}

/// Maps a `-v` count to a level: 0 → warnings, 1 → info, 2 → debug, more → trace.
pub fn level_for(verbose: u32) -> LevelFilter {
    match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger (once; later calls only change the level).
pub fn init(prog: &'static str, verbose: u32) {
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { prog }));
    let _ = log::set_logger(logger);
    log::set_max_level(level_for(verbose));
    let _ = Level::Warn;
}
