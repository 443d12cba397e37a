//! `wm_client`: emit, flush, close and stats.

use std::ffi::c_char;
use std::time::Duration;

use wafermon_core::Client;

use crate::args;
use crate::config::wm_config;
use crate::error::{guard, wm_status};
use crate::handle::{self, give_string, register};

/// How long `wm_client_free` waits for delivery when the client is still open.
const FREE_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running client (opaque): one pipeline of queue, batcher, spool and backends.
pub struct wm_client {
    pub(crate) client: Client,
}

/// Start a client: backends are built and threads started now, so configuration problems
/// surface here and never later from `wm_emit_json`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_client_new(
    config: *const wm_config,
    out: *mut *mut wm_client,
) -> wm_status {
    guard("wm_client_new", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let out = unsafe { args::out(out, "out")? };
        let config = handle::get(config, "config")?;
        let client = Client::new(config.config.clone())?;
        *out = register(wm_client { client });
        Ok(())
    })
}

/// `wm_client_new` for a program that runs under an interpreter (a Perl script, ...): when
/// the configuration sets no `app.name`, the client reports `program_name` instead of the
/// executable's name ("perl"). An unusable name (empty, over 256 characters, control
/// characters) is ignored; NULL gives WM_ERR_INVALID_ARGUMENT.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_client_new_for_program(
    config: *const wm_config,
    program_name: *const c_char,
    out: *mut *mut wm_client,
) -> wm_status {
    guard("wm_client_new_for_program", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let (out, program) = unsafe {
            (
                args::out(out, "out")?,
                args::text(program_name, "program_name")?,
            )
        };
        let config = handle::get(config, "config")?;
        let mut config = config.config.clone();
        wafermon_core::skin::names::use_program_name(&mut config, program);
        let client = Client::new(config)?;
        *out = register(wm_client { client });
        Ok(())
    })
}

/// Close `client` when the process exits normally (`exit()` or a return from `main`; not
/// `_exit`, a signal or an abort), waiting up to `timeout_ms` for delivery, or about 0.5 s
/// when every backend is down (the rest stays in the spool). For C and Perl, whose own exit
/// paths give no such hook; runs once per process, and a forked child closes only what it
/// used itself. The client may still be closed and freed earlier as usual.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_close_at_exit(client: *mut wm_client, timeout_ms: u64) -> wm_status {
    guard("wm_close_at_exit", || {
        let client = handle::get(client, "client")?;
        wafermon_core::skin::exit::register(&client.client);
        wafermon_core::skin::exit::close_at_exit(Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Free a client, closing it first (waiting up to 5 s for delivery; the rest stays in the
/// spool) if `wm_close` was not called. NULL is accepted. Jobs of this client stay valid
/// handles but report WM_ERR_CLOSED.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_client_free(client: *mut wm_client) -> wm_status {
    guard("wm_client_free", || {
        if let Some(c) = handle::release(client, "client")? {
            if !c.client.is_closed() {
                c.client.close(FREE_CLOSE_TIMEOUT);
            }
        }
        Ok(())
    })
}

/// Queue one event given as a JSON object (only "kind" and "entity" {"kind", "id"} are
/// required). Never blocks on a backend; fails only on an invalid event
/// (WM_ERR_INVALID_EVENT, the message names the field) or a closed client (WM_ERR_CLOSED).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_emit_json(
    client: *mut wm_client,
    event_json: *const c_char,
) -> wm_status {
    guard("wm_emit_json", || {
        let client = handle::get(client, "client")?;
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let json = unsafe { args::text(event_json, "event_json")? };
        Ok(client.client.emit_json(json)?)
    })
}

/// Wait until everything emitted so far is delivered, or `timeout_ms` passes
/// (WM_ERR_TIMEOUT; the events stay queued or spooled). WM_ERR_CLOSED after `wm_close`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_flush(client: *mut wm_client, timeout_ms: u64) -> wm_status {
    guard("wm_flush", || {
        let client = handle::get(client, "client")?;
        Ok(client.client.flush(Duration::from_millis(timeout_ms))?)
    })
}

/// Stop accepting events and deliver what can be delivered within `timeout_ms`; the rest
/// stays in the spool for the next run and the call returns WM_ERR_TIMEOUT saying how many
/// (`wm_stats_json` has the final counters). Idempotent. Afterwards emitting, flushing and
/// starting jobs give WM_ERR_CLOSED.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_close(client: *mut wm_client, timeout_ms: u64) -> wm_status {
    guard("wm_close", || {
        let client = handle::get(client, "client")?;
        let stats = client.client.close(Duration::from_millis(timeout_ms));
        if stats.pending() > 0 {
            // Nothing is lost: what was not delivered waits in the spool for the next run.
            return Err(wafermon_core::Error::new(
                wafermon_core::ErrorKind::Timeout,
                format!(
                    "{} events not delivered within {timeout_ms} ms; they stay in the spool",
                    stats.pending()
                ),
            )
            .into());
        }
        Ok(())
    })
}

/// The client's counters as a JSON object (emitted, queued, dropped, spilled, corrupt, and
/// per backend: queued, sent, retried, spooled, dropped, failed, healthy, last_error).
/// Free `*out` with `wm_string_free`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_stats_json(client: *mut wm_client, out: *mut *mut c_char) -> wm_status {
    guard("wm_stats_json", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let out = unsafe { args::out(out, "out")? };
        let client = handle::get(client, "client")?;
        *out = give_string(client.client.stats().to_json());
        Ok(())
    })
}
