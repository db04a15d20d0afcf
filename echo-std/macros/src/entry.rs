//! The expansion shared by `main` and `test`: check the arguments and the
//! function, then wrap its body in `async move` and hand it to
//! `echo_std::__macro_support::run` with a configured builder.
//!
//! Everything here works on `proc_macro2` tokens, so the unit tests below
//! can call it outside a compiler.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, Meta, ReturnType, Token};

/// Which attribute is expanding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "#[echo_std::main]",
            Kind::Test => "#[echo_std::test]",
        }
    }
}

/// The attribute's arguments.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    worker_count: Option<usize>,
}

/// `worker_count = N`, or nothing.
fn parse_args(kind: Kind, args: TokenStream) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut parsed = Args::default();
    for meta in metas {
        let Meta::NameValue(pair) = &meta else {
            return Err(unknown_argument(kind, &meta));
        };
        if !pair.path.is_ident("worker_count") {
            return Err(unknown_argument(kind, &meta));
        }
        if parsed.worker_count.is_some() {
            return Err(syn::Error::new_spanned(
                &pair.path,
                "`worker_count` is given twice",
            ));
        }
        parsed.worker_count = Some(parse_worker_count(&pair.value)?);
    }
    Ok(parsed)
}

fn unknown_argument(kind: Kind, meta: &Meta) -> syn::Error {
    syn::Error::new_spanned(
        meta,
        format!(
            "unknown argument to {}: the only argument is `worker_count = N`",
            kind.name()
        ),
    )
}

/// A positive integer literal.
fn parse_worker_count(value: &Expr) -> syn::Result<usize> {
    let bad = || {
        syn::Error::new_spanned(
            value,
            "`worker_count` takes a positive integer literal, for example `worker_count = 4`",
        )
    };
    let Expr::Lit(ExprLit {
        lit: Lit::Int(int), ..
    }) = value
    else {
        return Err(bad());
    };
    match int.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new_spanned(
            value,
            "`worker_count` must be at least 1",
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(bad()),
    }
}

/// The function must be a plain `async fn` without parameters or
/// generics; a test must not carry its own `#[test]`.
fn check_fn(kind: Kind, item: &ItemFn) -> syn::Result<()> {
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            format!(
                "{} needs an `async fn`: add `async` before `fn`",
                kind.name()
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            format!("{} functions take no parameters", kind.name()),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            format!("{} functions cannot be generic", kind.name()),
        ));
    }
    if kind == Kind::Test {
        if let Some(attr) = item.attrs.iter().find(|a| a.path().is_ident("test")) {
            return Err(syn::Error::new_spanned(
                attr,
                "remove this `#[test]`: #[echo_std::test] adds it",
            ));
        }
    }
    Ok(())
}

/// The expansion, or the first error followed by a stand-in for the
/// function (not `async`, body never run) so that the compiler reports
/// only that error and not also, say, a missing `main`.
pub(crate) fn expand_or_error(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(kind, args, item.clone()) {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.into_compile_error();
            let Ok(ItemFn {
                attrs,
                vis,
                mut sig,
                ..
            }) = syn::parse2::<ItemFn>(item)
            else {
                return error;
            };
            sig.asyncness = None;
            quote! {
                #error
                #(#attrs)*
                #[allow(unused_variables)]
                #vis #sig { ::core::unreachable!() }
            }
        }
    }
}

/// The whole expansion, or the first error.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(kind, args)?;
    let item: ItemFn = syn::parse2(item)?;
    check_fn(kind, &item)?;

    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = item;
    sig.asyncness = None;
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    // A test gets one worker unless it asks for more: many tests run at
    // once, each with its own scheduler. `main` gets the builder's default
    // (one worker per CPU).
    let workers = match (args.worker_count, kind) {
        (Some(n), _) => quote!(.worker_count(#n)),
        (None, Kind::Test) => quote!(.worker_count(1)),
        (None, Kind::Main) => quote!(),
    };
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            ::echo_std::__macro_support::run::<#output, _>(
                ::echo_std::Scheduler::builder() #workers,
                async move #block,
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        expand(kind, args, item).unwrap_err().to_string()
    }

    #[test]
    fn an_error_comes_with_a_stand_in_function_and_nothing_else() {
        let out = expand_or_error(
            Kind::Main,
            quote!(worker_count = 0),
            quote!(
                async fn main() {}
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn main"), "{out}");
        assert!(!out.contains("async"), "{out}");
        let out = expand_or_error(
            Kind::Main,
            quote!(),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(
            out.contains("compile_error") && !out.contains("struct"),
            "{out}"
        );
    }

    #[test]
    fn worker_count_is_parsed() {
        let args = parse_args(Kind::Main, quote!(worker_count = 3)).unwrap();
        assert_eq!(args.worker_count, Some(3));
        assert_eq!(parse_args(Kind::Main, quote!()).unwrap(), Args::default());
    }

    #[test]
    fn expansion_builds_with_the_worker_count_and_blocks_on_the_body() {
        let out = expand(
            Kind::Test,
            quote!(worker_count = 2),
            quote!(
                async fn t() -> u8 {
                    1
                }
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("test"), "{out}");
        assert!(out.contains("worker_count (2usize)"), "{out}");
        assert!(out.contains("run :: < u8 , _ >"), "{out}");
        assert!(out.contains("async move"), "{out}");
        assert!(!out.contains("async fn"), "{out}");
    }

    #[test]
    fn a_test_defaults_to_one_worker_and_main_to_the_builder_default() {
        let test = expand(
            Kind::Test,
            quote!(),
            quote!(
                async fn t() {}
            ),
        )
        .unwrap();
        assert!(test.to_string().contains("worker_count (1)"));
        let main = expand(
            Kind::Main,
            quote!(),
            quote!(
                async fn main() {}
            ),
        )
        .unwrap();
        assert!(!main.to_string().contains("worker_count"));
        assert!(!main.to_string().contains("test"));
    }

    #[test]
    fn a_non_async_fn_is_refused() {
        let e = error(
            Kind::Main,
            quote!(),
            quote!(
                fn main() {}
            ),
        );
        assert!(e.contains("needs an `async fn`"), "{e}");
    }

    #[test]
    fn unknown_arguments_are_refused() {
        let e = error(
            Kind::Main,
            quote!(flavor = "x"),
            quote!(
                async fn main() {}
            ),
        );
        assert!(e.contains("unknown argument"), "{e}");
        let e = error(
            Kind::Test,
            quote!(worker_count),
            quote!(
                async fn t() {}
            ),
        );
        assert!(e.contains("unknown argument"), "{e}");
    }

    #[test]
    fn bad_worker_counts_are_refused() {
        let item = quote!(
            async fn main() {}
        );
        let e = error(Kind::Main, quote!(worker_count = 0), item.clone());
        assert!(e.contains("at least 1"), "{e}");
        let e = error(Kind::Main, quote!(worker_count = "two"), item.clone());
        assert!(e.contains("positive integer literal"), "{e}");
        let e = error(Kind::Main, quote!(worker_count = -1), item.clone());
        assert!(e.contains("positive integer literal"), "{e}");
        let e = error(Kind::Main, quote!(worker_count = 1, worker_count = 2), item);
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn parameters_generics_and_a_second_test_attribute_are_refused() {
        let e = error(
            Kind::Test,
            quote!(),
            quote!(
                async fn t(x: u8) {}
            ),
        );
        assert!(e.contains("no parameters"), "{e}");
        let e = error(
            Kind::Main,
            quote!(),
            quote!(
                async fn main<T>() {}
            ),
        );
        assert!(e.contains("generic"), "{e}");
        let e = error(
            Kind::Test,
            quote!(),
            quote!(
                #[test]
                async fn t() {}
            ),
        );
        assert!(e.contains("remove this `#[test]`"), "{e}");
    }
}
