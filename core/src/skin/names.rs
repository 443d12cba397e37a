//! Names: what an application is called when nothing configures it, and the checks every
//! skin applies to names it takes from its language before they reach an event.

use crate::config::Config;
use crate::error::Result;
use crate::event::{check_name, limits};

/// The file stem of the running executable ("python3", "java", "perl", "R", "etch-ctl").
pub fn executable_name() -> Option<String> {
    std::env::current_exe()
        .ok()?
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
}

/// The core's default `app.name`: the executable's name, or "app" when it has none.
pub fn default_app_name() -> String {
    executable_name().unwrap_or_else(|| "app".into())
}

/// True when `name` is a valid identifier of schema v1 (`app.name`, `entity.kind`,
/// `entity.id`, `entity.key`, ...): 1 to 256 characters, no control characters.
pub fn is_usable_name(name: &str) -> bool {
    check_ident("name", name).is_ok()
}

/// `is_usable_name` with the error an event would get: `InvalidEvent` at `field`.
pub fn check_ident(field: &str, value: &str) -> Result<()> {
    check_name(field, value, limits::MAX_IDENT)
}

/// A skin whose programs all run under one interpreter ("python3", "java", "perl", "R")
/// reports the program instead (the script, the main class, ...): when `config` left
/// `app.name` at the default (the executable's name) and `program` is a usable name,
/// `app.name` becomes `program`. Returns whether it did.
pub fn use_program_name(config: &mut Config, program: &str) -> bool {
    if !is_usable_name(program) || config.app.name != default_app_name() {
        return false;
    }
    config.app.name = program.to_string();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_executable_and_a_program_name_replaces_only_the_default() {
        let default = default_app_name();
        assert_eq!(Some(default.clone()), executable_name());
        let mut config = Config::default();
        assert_eq!(config.app.name, default);
        assert!(use_program_name(&mut config, "etch_script"));
        assert_eq!(config.app.name, "etch_script");
        // A configured name stays.
        assert!(!use_program_name(&mut config, "other"));
        assert_eq!(config.app.name, "etch_script");
        // An unusable program name is ignored.
        let mut config = Config::default();
        assert!(!use_program_name(&mut config, ""));
        assert!(!use_program_name(&mut config, "bad\nname"));
        assert!(!use_program_name(&mut config, &"x".repeat(257)));
        assert_eq!(config.app.name, default);
    }

    #[test]
    fn names_are_checked_like_event_fields() {
        assert!(is_usable_name("LOT-42"));
        assert!(!is_usable_name(""));
        assert!(!is_usable_name("tab\there"));
        let err = check_ident("entity.key", &"k".repeat(300)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidEvent);
        assert_eq!(err.path(), Some("entity.key"));
        assert!(check_ident("entity.key", &"k".repeat(256)).is_ok());
    }
}
