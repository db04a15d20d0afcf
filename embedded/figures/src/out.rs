//! Output: text to the host, and `FIG` lines that `run.sh` reads.

use core::fmt::{self, Write};

/// Writes to the board's output (semihosting or the UART).
pub struct Out;

impl Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::board::write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Prints `FIG <key> <value>` with `value = hundredths / 100`, two
/// decimals.
pub fn fig(key: &str, hundredths: u64) {
    let _ = writeln!(
        Out,
        "FIG {key} {}.{:02}",
        hundredths / 100,
        hundredths % 100
    );
}

/// Prints `FIG <key> <value>` for a whole number.
pub fn fig_int(key: &str, value: u64) {
    let _ = writeln!(Out, "FIG {key} {value}");
}

/// Prints a line of text (not read by `run.sh`).
pub fn line(args: fmt::Arguments<'_>) {
    let _ = Out.write_fmt(args);
    let _ = Out.write_str("\n");
}
