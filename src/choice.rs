//! Settings that take one of a few named values: parsed from text by their names (and
//! aliases), with an error that names the setting and lists the accepted names. The
//! command line parses the same names through [`clap::ValueEnum`].

use crate::error::{Error, Result};
use clap::ValueEnum;

/// `text` as one of `T`'s values, or an error naming `setting` and the accepted names.
pub fn parse_choice<T: ValueEnum>(setting: &str, text: &str) -> Result<T> {
    T::from_str(text, false).map_err(|_| Error::invalid(setting, format!("`{text}` (expected {})", names::<T>())))
}

/// `T`'s value names as a list: `a, b or c`.
pub fn names<T: ValueEnum>() -> String {
    let names: Vec<String> =
        T::value_variants().iter().filter_map(|v| v.to_possible_value()).map(|p| p.get_name().to_string()).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
    enum Fruit {
        Apple,
        #[value(alias = "pear")]
        GreenPear,
        Plum,
    }

    #[test]
    fn names_aliases_and_errors() {
        assert_eq!(names::<Fruit>(), "apple, green-pear or plum");
        assert_eq!(parse_choice::<Fruit>("fruit", "green-pear").unwrap(), Fruit::GreenPear);
        assert_eq!(parse_choice::<Fruit>("fruit", "pear").unwrap(), Fruit::GreenPear);
        let e = parse_choice::<Fruit>("fruit", "Apple").unwrap_err().to_string();
        assert_eq!(e, "invalid value for fruit: `Apple` (expected apple, green-pear or plum)");
    }
}
