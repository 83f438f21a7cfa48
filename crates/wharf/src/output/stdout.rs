//! Standard output for every command. Rust ignores SIGPIPE, so a write to a closed pipe
//! (`wharf images | head -1`) fails with `BrokenPipe`, and `println!` would panic on it.
//! Commands write through `out!`/`outln!` instead, which return the error; `main` treats
//! a broken pipe as the end of the output and exits quietly with 0, as ripgrep does: the
//! reader had what it wanted.

use std::io::Write;

/// Writes to standard output; the error is the caller's to return.
pub fn write(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    std::io::stdout().lock().write_fmt(args)
}

/// Writes bytes (a completion script, an archive's piece) to standard output.
pub fn write_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Whether `error` is, or was caused by, a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `print!` that returns the write's error instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout::write(format_args!($($arg)*))
    };
}

/// `println!` that returns the write's error instead of panicking.
macro_rules! outln {
    () => {
        $crate::output::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
