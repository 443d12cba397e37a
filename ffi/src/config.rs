//! `wm_config`: a validated configuration, used to start clients.

use std::ffi::c_char;
use std::path::Path;

use wafermon_core::Config;

use crate::args;
use crate::error::{guard, wm_status};
use crate::handle::{self, register};

/// A validated configuration (opaque). Free with `wm_config_free`; clients started from it
/// keep their own copy.
pub struct wm_config {
    pub(crate) config: Config,
}

/// Parse a configuration from a JSON object laid over the defaults (no environment, no
/// file). Malformed JSON, unknown keys and bad values give WM_ERR_INVALID_CONFIG with the
/// JSON path in the message.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_config_from_json(
    json: *const c_char,
    out: *mut *mut wm_config,
) -> wm_status {
    guard("wm_config_from_json", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let (out, json) = unsafe { (args::out(out, "out")?, args::text(json, "json")?) };
        let config = Config::from_json_str(json)?;
        *out = register(wm_config { config });
        Ok(())
    })
}

/// Read a configuration from a JSON file laid over the defaults.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_config_from_file(
    path: *const c_char,
    out: *mut *mut wm_config,
) -> wm_status {
    guard("wm_config_from_file", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let (out, path) = unsafe { (args::out(out, "out")?, args::text(path, "path")?) };
        let config = Config::from_file(Path::new(path))?;
        *out = register(wm_config { config });
        Ok(())
    })
}

/// The configuration from the file named by WAFERMON_CONFIG, the WAFERMON_* environment
/// variables and the defaults.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_config_from_env(out: *mut *mut wm_config) -> wm_status {
    guard("wm_config_from_env", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let out = unsafe { args::out(out, "out")? };
        let config = Config::from_env()?;
        *out = register(wm_config { config });
        Ok(())
    })
}

/// Free a configuration. NULL is accepted; a handle that is not live gives
/// WM_ERR_INVALID_ARGUMENT.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_config_free(config: *mut wm_config) -> wm_status {
    guard("wm_config_free", || {
        drop(handle::release(config, "config")?);
        Ok(())
    })
}
