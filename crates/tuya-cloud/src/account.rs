//! The configured login, whichever it is: one way to list an account's devices for the CLI
//! and the bridge, with a refreshed app session stored back so no new scan is needed.

use crate::login::Sharing;
use crate::openapi::OpenApi;
use crate::store::{CloudConfig, Method, Store, StoreError};
use crate::{CloudDevice, CloudError};

/// Why listing the account's devices failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The stored login cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cloud refused or could not be reached.
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

/// A client for the configured login.
#[derive(Debug)]
pub enum Account {
    /// The app account, through the QR login's session.
    App(Sharing),
    /// A developer project.
    Developer {
        /// The OpenAPI client.
        api: OpenApi,
        /// The device whose owner's devices are listed, if any.
        device_id: Option<String>,
    },
}

impl Account {
    /// The client for the login `config` says to use. `endpoint` replaces the base URL: the
    /// app session's API host, or the developer region's host.
    pub fn from_config(
        config: &CloudConfig,
        endpoint: Option<&str>,
        dir: &str,
    ) -> Result<Self, AccountError> {
        match config.method() {
            Some(Method::App) => {
                let app = config.app.as_ref().ok_or(StoreError::NotConfigured {
                    dir: dir.to_string(),
                })?;
                let mut session = app.session.clone();
                if let Some(e) = endpoint {
                    session.endpoint = e.to_string();
                }
                Ok(Account::App(Sharing::new(session, &app.client_id)?))
            }
            Some(Method::Developer) => {
                let dev = config.developer.as_ref().ok_or(StoreError::NotConfigured {
                    dir: dir.to_string(),
                })?;
                let base = endpoint.map_or_else(|| dev.base_url(), str::to_string);
                Ok(Account::Developer {
                    api: OpenApi::new(&dev.client_id, &dev.secret, &base)?,
                    device_id: dev.device_id.clone(),
                })
            }
            None => Err(StoreError::NotConfigured {
                dir: dir.to_string(),
            }
            .into()),
        }
    }

    /// Which login this is.
    pub fn method(&self) -> Method {
        match self {
            Account::App(_) => Method::App,
            Account::Developer { .. } => Method::Developer,
        }
    }

    /// Every device of the account with its local key, DP mapping and gateway links.
    pub fn devices(&self) -> Result<Vec<CloudDevice>, CloudError> {
        match self {
            Account::App(s) => s.devices(),
            Account::Developer { api, device_id } => api.devices(device_id.as_deref()),
        }
    }
}

/// Lists the devices of the login stored in `store` (`endpoint` as in
/// [`Account::from_config`]), storing the app session back when it was refreshed on the way
/// (also when the listing then failed: the old refresh token no longer works).
pub fn fetch_devices(
    store: &Store,
    endpoint: Option<&str>,
) -> Result<(Method, Vec<CloudDevice>), AccountError> {
    let mut config = store.load_configured()?;
    let dir = store.dir().display().to_string();
    let account = Account::from_config(&config, endpoint, &dir)?;
    let listed = account.devices();
    if let Account::App(s) = &account {
        if s.refreshed() {
            if let Some(app) = config.app.as_mut() {
                let mut session = s.session();
                // An --endpoint given for this run is not the account's own endpoint.
                session.endpoint = app.session.endpoint.clone();
                app.session = session;
                store.save(&config)?;
            }
        }
    }
    Ok((account.method(), listed?))
}
