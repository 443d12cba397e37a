//! A small `--name value` / `--name=value` parser: each subcommand takes the options it
//! knows, then `finish` rejects whatever is left.

use std::str::FromStr;

pub struct Args {
    /// (name, value) in the order given; a flag without a value has `None`.
    items: Vec<(String, Option<String>)>,
}

/// Options that never take a value.
const FLAGS: &[&str] = &[
    "--no-build",
    "--keep-db",
    "--skip-sidecar",
    "--timeline",
    "--help",
    "-h",
];

impl Args {
    pub fn parse(raw: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut items = Vec::new();
        let mut raw = raw.into_iter();
        while let Some(arg) = raw.next() {
            if !arg.starts_with('-') {
                return Err(format!("unexpected argument '{arg}'"));
            }
            if let Some((name, value)) = arg.split_once('=') {
                items.push((name.to_string(), Some(value.to_string())));
            } else if FLAGS.contains(&arg.as_str()) {
                items.push((arg, None));
            } else {
                let value = raw.next().ok_or_else(|| format!("{arg} needs a value"))?;
                items.push((arg, Some(value)));
            }
        }
        Ok(Args { items })
    }

    /// The last value given for `name`, removed from what is left.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, String> {
        let mut found = None;
        let mut rest = Vec::with_capacity(self.items.len());
        for (n, v) in self.items.drain(..) {
            if n == name {
                found = Some(v.ok_or_else(|| format!("{name} needs a value"))?);
            } else {
                rest.push((n, v));
            }
        }
        self.items = rest;
        Ok(found)
    }

    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|(n, _)| n != name);
        self.items.len() != before
    }

    /// `name` parsed as `T`, `default` when absent.
    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        Ok(self.opt(name)?.unwrap_or(default))
    }

    pub fn opt<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.take(name)? {
            None => Ok(None),
            Some(text) => {
                // Allow 10_000_000 and 10,000,000 for event counts.
                let cleaned: String = text.chars().filter(|c| !matches!(c, '_' | ',')).collect();
                cleaned
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}: '{text}' is not a valid value"))
            }
        }
    }

    /// Fail on any option no one took.
    pub fn finish(self) -> Result<(), String> {
        match self.items.first() {
            None => Ok(()),
            Some((name, _)) => Err(format!("unknown option '{name}'")),
        }
    }
}

/// `http://host:port` without a trailing slash.
pub fn base_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim_end_matches('/');
    if !trimmed.starts_with("http://") {
        return Err(format!("--url: '{text}' must start with http://"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::parse(list.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn both_spellings_and_leftovers() {
        let mut a = args(&[
            "--seconds",
            "5",
            "--batch=500",
            "--no-build",
            "--events",
            "10_000_000",
        ]);
        assert_eq!(a.get("--seconds", 20.0).unwrap(), 5.0);
        assert_eq!(a.get("--batch", 1000usize).unwrap(), 500);
        assert_eq!(a.get("--connections", 8usize).unwrap(), 8);
        assert_eq!(a.get("--events", 0u64).unwrap(), 10_000_000);
        assert!(a.flag("--no-build"));
        assert!(a.finish().is_ok());

        let mut a = args(&["--seconds", "x"]);
        assert!(a.get("--seconds", 1.0).is_err());
        let a = args(&["--bogus", "1"]);
        assert_eq!(a.finish().unwrap_err(), "unknown option '--bogus'");
        assert!(Args::parse(["--seconds".to_string()]).is_err());
        assert!(Args::parse(["stray".to_string()]).is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            base_url("http://127.0.0.1:17000/").unwrap(),
            "http://127.0.0.1:17000"
        );
        assert!(base_url("127.0.0.1:17000").is_err());
    }
}
