//! Project automation for the bindings (run as `cargo xtask <command>`):
//!
//! * `gen`: regenerate `include/moshkit.h` (cbindgen, as a library) and `bindings/kotlin`,
//!   `bindings/swift` (the workspace's `uniffi-bindgen` binary in library mode, from the
//!   debug cdylib of `moshkit-ffi`).
//! * `check`: regenerate into a temporary directory and fail, naming the stale files and
//!   showing a diff, if the checked-in copies differ.
//!
//! Cargo is the one running this (`CARGO`), and honours `CARGO_TARGET_DIR`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::{env, fs};

type Result<T> = std::result::Result<T, String>;

/// The generated trees, relative to the workspace root.
const OUTPUTS: [&str; 3] = ["include/moshkit.h", "bindings/kotlin", "bindings/swift"];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => gen_into(&workspace_root()).map(|()| {
            println!("xtask: regenerated {}", OUTPUTS.join(", "));
        }),
        Some("check") => check(),
        _ => Err("usage: cargo xtask gen | cargo xtask check\n  \
             gen    regenerate include/moshkit.h and bindings/{kotlin,swift}\n  \
             check  fail if the checked-in header or bindings are stale"
            .to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR for the process too; prefer it to the compile-time
    // value, which goes stale when a target directory is shared between checkouts.
    let manifest = env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest
        .parent()
        .map_or_else(|| manifest.clone(), Path::to_path_buf)
}

fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

/// Writes the header and both bindings under `out` (the workspace root for `gen`).
fn gen_into(out: &Path) -> Result<()> {
    let root = workspace_root();
    let target = target_dir(&root);

    // 1. The C header, from the C ABI module only.
    let config = cbindgen::Config::from_file(root.join("ffi/cbindgen.toml"))
        .map_err(|e| format!("ffi/cbindgen.toml: {e}"))?;
    let header = out.join(OUTPUTS[0]);
    fs::create_dir_all(header.parent().unwrap_or(out)).map_err(|e| e.to_string())?;
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("ffi/src/c_api.rs"))
        .with_src(root.join("ffi/src/c_session.rs"))
        .with_src(root.join("ffi/src/c_screen.rs"))
        .with_src(root.join("ffi/src/c_scrollback.rs"))
        .with_src(root.join("ffi/src/attrs.rs"))
        .with_src(root.join("ffi/src/logging.rs"))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?
        .write_to_file(&header);

    // 2. The cdylib (uniffi reads its metadata) and the bindgen binary.
    run(cargo().current_dir(&root).args([
        "build",
        "--quiet",
        "--package",
        "moshkit-ffi",
        "--lib",
    ]))?;
    run(cargo().current_dir(&root).args([
        "build",
        "--quiet",
        "--package",
        "xtask",
        "--bin",
        "uniffi-bindgen",
    ]))?;
    let lib = target.join("debug").join(format!(
        "{}moshkit{}",
        env::consts::DLL_PREFIX,
        env::consts::DLL_SUFFIX
    ));
    let bindgen = target
        .join("debug")
        .join(format!("uniffi-bindgen{}", env::consts::EXE_SUFFIX));

    // 3. Kotlin and Swift, unformatted so that the output does not depend on installed tools.
    for (language, dir) in [("kotlin", OUTPUTS[1]), ("swift", OUTPUTS[2])] {
        let dir = out.join(dir);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        run(Command::new(&bindgen)
            .current_dir(&root)
            .arg("generate")
            .arg("--library")
            .arg(&lib)
            .args(["--language", language, "--no-format", "--out-dir"])
            .arg(&dir))?;
    }
    Ok(())
}

fn check() -> Result<()> {
    let root = workspace_root();
    let tmp = env::temp_dir().join(format!("moshkit-xtask-check-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let result = gen_into(&tmp).and_then(|()| compare(&root, &tmp));
    let _ = fs::remove_dir_all(&tmp);
    result?;
    println!("xtask: {} are up to date", OUTPUTS.join(", "));
    Ok(())
}

/// All files under `base/rel` (a file or a directory), relative to `base`.
fn files(base: &Path, rel: &Path, acc: &mut BTreeSet<PathBuf>) -> Result<()> {
    let path = base.join(rel);
    if path.is_dir() {
        let entries = fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            files(base, &rel.join(entry.file_name()), acc)?;
        }
    } else if path.is_file() {
        acc.insert(rel.to_path_buf());
    }
    Ok(())
}

fn compare(root: &Path, fresh: &Path) -> Result<()> {
    let mut all = BTreeSet::new();
    for out in OUTPUTS {
        files(root, Path::new(out), &mut all)?;
        files(fresh, Path::new(out), &mut all)?;
    }
    let mut stale = Vec::new();
    for rel in &all {
        let (old, new) = (root.join(rel), fresh.join(rel));
        match (fs::read(&old).ok(), fs::read(&new).ok()) {
            (Some(a), Some(b)) if a == b => {}
            (Some(_), Some(_)) => {
                stale.push(format!("  changed: {}", rel.display()));
                if let Ok(out) = Command::new("diff").arg("-u").arg(&old).arg(&new).output() {
                    let text = String::from_utf8_lossy(&out.stdout);
                    for line in text.lines().take(40) {
                        stale.push(format!("    {line}"));
                    }
                }
            }
            (Some(_), None) => stale.push(format!("  no longer generated: {}", rel.display())),
            (None, _) => stale.push(format!("  missing (not checked in): {}", rel.display())),
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the checked-in header/bindings are stale:\n{}\nrun `cargo xtask gen` and commit the result",
            stale.join("\n")
        ))
    }
}
