//! The `#[echo_std::main]` and `#[echo_std::test]` attributes.
//!
//! Use them through `echo-std`, which re-exports them: the code they write
//! names `::echo_std`. Both turn an `async fn` into a plain `fn` that
//! builds a `Scheduler`, runs the body with `block_on` and shuts the
//! scheduler down when the body returns. See `echo_std::main` and
//! `echo_std::test` for the user's view.

use proc_macro::TokenStream;

mod entry;

/// (Implemented in the `echo-std-macros` crate; echo-std re-exports it as
/// `echo_std::main`.)
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand_or_error(entry::Kind::Main, args.into(), item.into()).into()
}

/// (Implemented in the `echo-std-macros` crate; echo-std re-exports it as
/// `echo_std::test`.)
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand_or_error(entry::Kind::Test, args.into(), item.into()).into()
}
