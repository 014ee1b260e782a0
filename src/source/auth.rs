//! Access tokens for Cloud Logging: our own small seam over `gcp_auth`, so tests choose
//! the credential source and nothing probes a host they did not start.
//!
//! Order (first that applies wins):
//! 1. `GOOGLE_OAUTH_ACCESS_TOKEN`: a static token (CI passes
//!    `gcloud auth print-access-token`); it cannot be refreshed.
//! 2. `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key, through `gcp_auth`.
//! 3. `$HOME/.config/gcloud/application_default_credentials.json` (written by
//!    `gcloud auth application-default login`), through `gcp_auth`.
//! 4. The metadata server (Cloud Run, GCE, GKE), only when a quick probe of
//!    `GCE_METADATA_HOST` (default `metadata.google.internal`) answers as one.
//! 5. `gcloud auth print-access-token`, when `gcloud` is on `PATH`.
//!
//! `gcp_auth` caches tokens and refreshes them before they expire; we ask for one per
//! request. Tokens live in [`Secret`], whose `Debug` never shows them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gcp_auth::TokenProvider;

use crate::error::{Error, Result};

/// The OAuth scope for reading logs.
pub const LOGGING_READ: &str = "https://www.googleapis.com/auth/logging.read";
/// The scope asked for to run BigQuery query jobs and read their results.
pub const BIGQUERY_READ: &str = "https://www.googleapis.com/auth/cloud-platform.read-only";

/// A secret string (access token) that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What the credential chain may look at, gathered once from the environment.
#[derive(Debug, Clone, Default)]
pub struct AuthEnv {
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`.
    pub access_token: Option<Secret>,
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub application_credentials: Option<PathBuf>,
    /// `$HOME`, for gcloud's application-default credentials.
    pub home: Option<PathBuf>,
    /// `GCE_METADATA_HOST`, else `metadata.google.internal`.
    pub metadata_host: String,
}

impl AuthEnv {
    /// Reads the variables above.
    pub fn from_env() -> AuthEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        AuthEnv {
            access_token: var("GOOGLE_OAUTH_ACCESS_TOKEN").map(|t| Secret::new(t.trim())),
            application_credentials: var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
            home: std::env::var_os("HOME").map(PathBuf::from),
            metadata_host: var("GCE_METADATA_HOST")
                .unwrap_or_else(|| "metadata.google.internal".to_string()),
        }
    }

    fn adc_file(&self) -> Option<PathBuf> {
        let path = self
            .home
            .as_ref()?
            .join(".config/gcloud/application_default_credentials.json");
        path.is_file().then_some(path)
    }
}

/// A resolved credential source.
pub enum Credentials {
    /// A fixed token.
    Static(Secret),
    /// A `gcp_auth` provider (refreshes on its own).
    Provider {
        /// The provider.
        provider: Arc<dyn TokenProvider>,
        /// Which step of the chain found it (for `-v` and errors).
        origin: &'static str,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.origin())
    }
}

impl Credentials {
    /// Where the credentials came from, in words.
    pub fn origin(&self) -> &'static str {
        match self {
            Credentials::Static(_) => "GOOGLE_OAUTH_ACCESS_TOKEN",
            Credentials::Provider { origin, .. } => origin,
        }
    }

    /// Whether a rejected token can be replaced by asking again.
    pub fn refreshes(&self) -> bool {
        matches!(self, Credentials::Provider { .. })
    }

    /// A bearer token valid now (`gcp_auth` refreshes expired ones).
    pub async fn bearer(&self) -> Result<Secret> {
        self.bearer_for(LOGGING_READ).await
    }

    /// A token for `scope` (scopes matter only to service-account keys).
    pub async fn bearer_for(&self, scope: &str) -> Result<Secret> {
        match self {
            Credentials::Static(s) => Ok(s.clone()),
            Credentials::Provider { provider, origin } => provider
                .token(&[scope])
                .await
                .map(|t| Secret::new(t.as_str()))
                .map_err(|source| Error::Credentials {
                    origin,
                    source: Box::new(source),
                }),
        }
    }

    /// The project the credentials belong to, if they say.
    pub async fn project_id(&self) -> Option<String> {
        match self {
            Credentials::Static(_) => None,
            Credentials::Provider { provider, .. } => {
                provider.project_id().await.ok().map(|p| p.to_string())
            }
        }
    }
}

/// Walks the chain described in the module docs.
pub async fn resolve(env: &AuthEnv) -> Result<Credentials> {
    if let Some(token) = &env.access_token {
        return Ok(Credentials::Static(token.clone()));
    }
    if let Some(path) = &env.application_credentials {
        let account = gcp_auth::CustomServiceAccount::from_file(path).map_err(|source| {
            Error::Credentials {
                origin: "GOOGLE_APPLICATION_CREDENTIALS",
                source: Box::new(source),
            }
        })?;
        return Ok(Credentials::Provider {
            provider: Arc::new(account),
            origin: "GOOGLE_APPLICATION_CREDENTIALS",
        });
    }
    if env.adc_file().is_some() {
        let adc = gcp_auth::ConfigDefaultCredentials::new()
            .await
            .map_err(|source| Error::Credentials {
                origin: "gcloud application-default credentials",
                source: Box::new(source),
            })?;
        return Ok(Credentials::Provider {
            provider: Arc::new(adc),
            origin: "gcloud application-default credentials",
        });
    }
    if metadata_server_answers(&env.metadata_host).await
        && let Ok(md) = gcp_auth::MetadataServiceAccount::new().await
    {
        return Ok(Credentials::Provider {
            provider: Arc::new(md),
            origin: "metadata server",
        });
    }
    if let Ok(gcloud) = gcp_auth::GCloudAuthorizedUser::new().await {
        return Ok(Credentials::Provider {
            provider: Arc::new(gcloud),
            origin: "gcloud auth print-access-token",
        });
    }
    Err(Error::NoCredentials)
}

/// Whether a metadata server answers at `host` within a second.
async fn metadata_server_answers(host: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()
    else {
        return false;
    };
    let url = format!("http://{host}/computeMetadata/v1/project/project-id");
    match client
        .get(url)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
    {
        Ok(resp) => {
            resp.status().is_success()
                && resp
                    .headers()
                    .get("metadata-flavor")
                    .is_some_and(|v| v == "Google")
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("ya29.very-secret");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let env = AuthEnv {
            access_token: Some(s),
            ..AuthEnv::default()
        };
        assert!(!format!("{env:?}").contains("ya29"));
    }
}
