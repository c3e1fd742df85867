//! The build script every function shares (and the bench, so that its
//! hello-world baseline is linked the same way): on Linux the binary is linked
//! at a fixed address (`-no-pie`). A position-independent executable starts by
//! rewriting each absolute address in it (100,000 of them in `deliver`, 2 MB
//! of tables), one copied page at a time; this one starts with none to write,
//! which halves the CPU of a cold start before `main` (docs/performance.md).
//! Only the binaries: the libraries, build scripts and proc-macros around
//! them stay position-independent.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
