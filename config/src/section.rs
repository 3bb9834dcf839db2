//! Each key defined once: [`section!`] declares a section's struct from lines of
//! `/// doc` + `pub key: Type = default,`, and derives from that one place the `Default` impl
//! and the key table ([`Section::KEYS`]) the manual pages are generated from.

/// A documented key of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Its name in the file.
    pub name: &'static str,
    /// Its doc comment, lines joined with spaces.
    pub doc: &'static str,
}

/// A section of `mailroom.toml` declared with [`section!`].
pub trait Section {
    /// The section's doc comment.
    const DOC: &'static str;
    /// Its keys, in declaration order.
    const KEYS: &'static [Key];
}

/// Declares a section: `pub struct Name { /// doc \n pub key: Type = default, ... }` becomes the
/// struct (deserialised with unknown keys refused and missing keys defaulted), its `Default`
/// and its [`Section`] impl. Every key must have a doc comment: it is the manual's text.
#[macro_export]
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])+
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])+ pub $key:ident : $ty:ty = $default:expr, )*
        }
    ) => {
        $(#[doc = $sdoc])+
        #[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $key: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $key: $default, )* }
            }
        }

        impl $crate::Section for $name {
            const DOC: &'static str = $crate::section!(@join $($sdoc)+);
            const KEYS: &'static [$crate::Key] =
                &[$( $crate::Key { name: stringify!($key), doc: $crate::section!(@join $($doc)+) } ),*];
        }
    };
    // A section whose keys are all required (a table per name, as `[mta.dkim."DOMAIN"]`).
    (
        $(#[doc = $sdoc:literal])+
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])+ pub $key:ident : $ty:ty, )*
        }
    ) => {
        $(#[doc = $sdoc])+
        #[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $key: $ty, )*
        }

        impl $crate::Section for $name {
            const DOC: &'static str = $crate::section!(@join $($sdoc)+);
            const KEYS: &'static [$crate::Key] =
                &[$( $crate::Key { name: stringify!($key), doc: $crate::section!(@join $($doc)+) } ),*];
        }
    };
    // Doc lines arrive with the space after `///`; joined, they read as one paragraph.
    (@join $first:literal $($rest:literal)*) => {
        concat!($first $(, $rest)*)
    };
}

#[cfg(test)]
mod tests {
    use crate::Section;

    crate::section! {
        /// A test section,
        /// on two lines.
        pub struct Demo {
            /// The first key.
            pub first: u32 = 7,
            /// The second,
            /// also on two lines.
            pub second: String = "x".into(),
        }
    }

    #[test]
    fn one_declaration_gives_struct_default_and_keys() {
        assert_eq!(Demo::default(), Demo { first: 7, second: "x".into() });
        let names: Vec<_> = Demo::KEYS.iter().map(|k| k.name).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(Demo::KEYS[1].doc, " The second, also on two lines.");
        assert_eq!(Demo::DOC, " A test section, on two lines.");
    }
}
