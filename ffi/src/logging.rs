//! Routes the `log` facade (used by moshkit-core and this crate) to the app's sink: a foreign
//! [`LogSink`](crate::api::LogSink) (Kotlin/Swift) or a C callback. Nothing is printed to stdout
//! or stderr, with or without a sink.
//!
//! The router is installed as the process's `log` logger the first time a sink is set. If
//! another logger already owns the process (an app embedding other Rust code), setting a sink
//! fails with [`MoshKitError::LogSinkUnavailable`] and that logger keeps receiving the records.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use crate::cstr::c_string_lossy;
use crate::error::MoshKitError;

/// Severity of a log record, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Informational messages.
    Info,
    /// Debugging details.
    Debug,
    /// Very verbose tracing.
    Trace,
}

/// Receives MoshKit's log records; implement it in Kotlin/Swift and forward to logcat / os_log.
///
/// Called from whichever thread logs, possibly concurrently: implementations must be
/// thread-safe and must not block for long.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One log record. `target` names the Rust module that logged (e.g. `moshkit::ffi`).
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// Severity of a log record (the values of Rust's `log::Level`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MoshkitLogLevel {
    /// Errors.
    Error = 1,
    /// Warnings.
    Warn = 2,
    /// Informational messages.
    Info = 3,
    /// Debugging details.
    Debug = 4,
    /// Very verbose tracing.
    Trace = 5,
}

/// Receives one log record: `target` names the module that logged, `message` is the text; both
/// are NUL-terminated UTF-8 valid only during the call. Called from any thread, possibly
/// concurrently; must not block for long and must not unwind (C++ exceptions, longjmp).
pub type MoshkitLogCallback = Option<
    unsafe extern "C" fn(
        context: *mut c_void,
        level: MoshkitLogLevel,
        target: *const c_char,
        message: *const c_char,
    ),
>;

impl From<log::Level> for MoshkitLogLevel {
    fn from(l: log::Level) -> Self {
        match l {
            log::Level::Error => MoshkitLogLevel::Error,
            log::Level::Warn => MoshkitLogLevel::Warn,
            log::Level::Info => MoshkitLogLevel::Info,
            log::Level::Debug => MoshkitLogLevel::Debug,
            log::Level::Trace => MoshkitLogLevel::Trace,
        }
    }
}

/// Where log records go.
pub(crate) enum Sink {
    /// A Kotlin/Swift implementation of [`LogSink`].
    Foreign(Arc<dyn LogSink>),
    /// A C function pointer with its context.
    C {
        callback: unsafe extern "C" fn(
            *mut c_void,
            MoshkitLogLevel,
            *const std::ffi::c_char,
            *const std::ffi::c_char,
        ),
        context: ContextPtr,
    },
}

/// The C caller's `void *context`.
#[derive(Clone, Copy)]
pub(crate) struct ContextPtr(pub(crate) *mut c_void);

// SAFETY: the pointer is never dereferenced by Rust; it is handed back to the C callback, whose
// contract (documented on `moshkit_set_log_callback`) is that callback and context may be used
// from any thread.
unsafe impl Send for ContextPtr {}
// SAFETY: as above: Rust only copies the pointer value.
unsafe impl Sync for ContextPtr {}

impl Sink {
    pub(crate) fn from_c(callback: MoshkitLogCallback, context: *mut c_void) -> Option<Sink> {
        callback.map(|callback| Sink::C {
            callback,
            context: ContextPtr(context),
        })
    }

    fn emit(&self, level: log::Level, target: &str, message: String) {
        match self {
            Sink::Foreign(sink) => sink.log(level.into(), target.to_owned(), message),
            Sink::C { callback, context } => {
                let target = c_string_lossy(target.to_owned());
                let message = c_string_lossy(message);
                // SAFETY: the caller of `moshkit_set_log_callback` promised a callback valid to
                // call from any thread with this context until it is replaced or cleared; both
                // strings are NUL-terminated and outlive the call.
                unsafe { callback(context.0, level.into(), target.as_ptr(), message.as_ptr()) }
            }
        }
    }
}

static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);
static ROUTER: Router = Router;
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

thread_local! {
    /// Set while this thread is inside a sink: records logged by the sink itself (e.g. it calls
    /// back into MoshKit) are dropped instead of recursing.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

struct Router;

impl log::Log for Router {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || IN_SINK.with(Cell::get) {
            return;
        }
        let Some(sink) = SINK.read().unwrap_or_else(PoisonError::into_inner).clone() else {
            return;
        };
        IN_SINK.with(|f| f.set(true));
        let message = record.args().to_string();
        // A panicking sink (e.g. a foreign exception turned into a panic) must not take down
        // the code that logged.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            sink.emit(record.level(), record.target(), message)
        }));
        IN_SINK.with(|f| f.set(false));
    }

    fn flush(&self) {}
}

/// Installs `sink` for records up to `max_level`, replacing the previous sink.
pub(crate) fn install(sink: Sink, max_level: LogLevel) -> Result<(), MoshKitError> {
    INSTALLED
        .get_or_init(|| log::set_logger(&ROUTER).map_err(|e| e.to_string()))
        .clone()
        .map_err(|reason| MoshKitError::LogSinkUnavailable { reason })?;
    *SINK.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(sink));
    log::set_max_level(log::Level::from(max_level).to_level_filter());
    log::info!(target: "moshkit::ffi", "log sink installed (max level {max_level:?})");
    Ok(())
}

/// Removes the sink; records are dropped from now on.
pub(crate) fn clear() {
    *SINK.write().unwrap_or_else(PoisonError::into_inner) = None;
    if matches!(INSTALLED.get(), Some(Ok(()))) {
        log::set_max_level(log::LevelFilter::Off);
    }
}

impl From<LogLevel> for log::Level {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => log::Level::Error,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Info => log::Level::Info,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Trace => log::Level::Trace,
        }
    }
}

impl From<log::Level> for LogLevel {
    fn from(l: log::Level) -> Self {
        match l {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        }
    }
}

/// Serialises the tests (here and in `c_api`) that install sinks: the sink is process-global.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Recorder {
        fn log(&self, level: LogLevel, target: String, message: String) {
            // Other tests run concurrently and may log: keep only this test thread's records.
            if TEST_THREAD.get() != Some(&std::thread::current().id()) {
                return;
            }
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((level, target, message));
            // Re-entrant logging from a sink is dropped, not recursed into.
            log::error!(target: "moshkit::test", "from inside the sink");
        }
    }

    static TEST_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

    #[test]
    fn foreign_sink_receives_records_up_to_max_level() {
        TEST_THREAD.get_or_init(|| std::thread::current().id());
        let _guard = TEST_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let rec = Arc::new(Recorder::default());
        crate::api::set_log_sink(rec.clone(), LogLevel::Debug).expect("install");
        log::trace!(target: "moshkit::test", "too verbose");
        log::debug!(target: "moshkit::test", "hello {}", 42);
        assert!(crate::api::validate_session_key("bad".into()).is_err());
        clear();
        log::error!(target: "moshkit::test", "after clear");
        let got = rec.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert_eq!(
            got,
            vec![
                (
                    LogLevel::Info,
                    "moshkit::ffi".to_owned(),
                    "log sink installed (max level Debug)".to_owned()
                ),
                (
                    LogLevel::Debug,
                    "moshkit::test".to_owned(),
                    "hello 42".to_owned()
                ),
                (
                    LogLevel::Debug,
                    "moshkit::ffi".to_owned(),
                    "session key rejected: session key must be 22 characters, got 3".to_owned()
                ),
            ]
        );
    }

    /// Counts the records of one target, from any thread.
    struct Counter(std::sync::atomic::AtomicUsize, &'static str);

    impl LogSink for Counter {
        fn log(&self, _: LogLevel, target: String, _: String) {
            if target == self.1 {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn concurrent_records_all_arrive() {
        let _guard = TEST_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let counter = Arc::new(Counter(Default::default(), "moshkit::concurrency"));
        crate::api::set_log_sink(counter.clone(), LogLevel::Info).expect("install");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..250 {
                        log::info!(target: "moshkit::concurrency", "thread {t} record {i}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        clear();
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1000);
    }

    struct Panicking;

    impl LogSink for Panicking {
        fn log(&self, _: LogLevel, _: String, _: String) {
            panic!("sink failure");
        }
    }

    #[test]
    fn a_panicking_sink_does_not_break_the_caller() {
        let _guard = TEST_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        crate::api::set_log_sink(Arc::new(Panicking), LogLevel::Trace).expect("install");
        log::error!(target: "moshkit::test", "goes to a panicking sink");
        // The logging call returned, and the same thread can log again.
        log::error!(target: "moshkit::test", "and again");
        assert!(!IN_SINK.with(Cell::get));
        clear();
    }

    #[test]
    fn interior_nul_is_dropped_for_c() {
        assert_eq!(c_string_lossy("a\0b".to_owned()).as_bytes(), b"ab");
    }
}
