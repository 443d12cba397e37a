//! The process-global default client, for apps that do not want to pass one around.

use std::sync::Mutex;
use std::time::Duration;

use crate::client::Client;
use crate::config::Config;
use crate::error::Result;
use crate::pipeline::Stats;

static GLOBAL: Mutex<Option<Client>> = Mutex::new(None);

fn slot() -> std::sync::MutexGuard<'static, Option<Client>> {
    match GLOBAL.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Make a client from `config` the global default, closing any previous one.
pub fn init(config: Config) -> Result<Client> {
    let client = Client::new(config)?;
    let previous = slot().replace(client.clone());
    if let Some(previous) = previous {
        previous.close(Duration::from_secs(5));
    }
    Ok(client)
}

/// The global client; the first call without `init` configures it from the environment.
pub fn global() -> Result<Client> {
    let mut slot = slot();
    if let Some(c) = slot.as_ref() {
        return Ok(c.clone());
    }
    let client = Client::new(Config::from_env()?)?;
    *slot = Some(client.clone());
    Ok(client)
}

/// Close and forget the global client. Returns its final stats, if there was one.
pub fn shutdown(timeout: Duration) -> Option<Stats> {
    let client = slot().take()?;
    Some(client.close(timeout))
}

/// The global client, if there is one and its lock is free: for the exit hook, which must
/// not wait (a thread that held the lock at a fork or at exit never gives it back).
pub(crate) fn peek_without_waiting() -> Option<Client> {
    match GLOBAL.try_lock() {
        Ok(slot) => slot.clone(),
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().clone(),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}
