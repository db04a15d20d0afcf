//! The suite's console: the host installs a function that writes a string
//! (semihosting, a UART), and `print!`/`println!` format into it.
//!
//! A whole `print!` runs inside one critical section, so lines printed from
//! two cores, or from a handler, do not interleave; nothing allocates, so a
//! handler may print.

use core::cell::Cell;
use core::fmt::{self, Write};
use critical_section::Mutex;

/// Writes a string to the host's console.
type Writer = fn(&str);

static WRITER: Mutex<Cell<Option<Writer>>> = Mutex::new(Cell::new(None));

/// Sends the suite's output to `write`.
pub fn set_writer(write: Writer) {
    critical_section::with(|cs| WRITER.borrow(cs).set(Some(write)));
}

struct Console(Writer);

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        (self.0)(s);
        Ok(())
    }
}

/// Writes `args` to the console (nothing if no writer is set).
pub fn print(args: fmt::Arguments<'_>) {
    critical_section::with(|cs| {
        if let Some(write) = WRITER.borrow(cs).get() {
            let _ = Console(write).write_fmt(args);
        }
    });
}

/// Prints to the host's console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::out::print(format_args!($($arg)*)) };
}

/// Prints a line to the host's console.
#[macro_export]
macro_rules! println {
    () => { $crate::out::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::print(format_args!("{}\n", format_args!($($arg)*))) };
}
