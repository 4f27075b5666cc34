//! Building a connector from an account's stored connector settings, with errors that name
//! the missing or wrong setting.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::http::DEFAULT_TIMEOUT;
use crate::{
    Connector, LogConnector, Outbound, SmsGlobalConfig, SmsGlobalConnector, TwilioConfig,
    TwilioConnector, smsglobal, twilio,
};

/// An account's connector settings as stored (JSON in the settings table, or the config
/// file). `Debug` never prints `secret`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorSettings {
    /// `log`, `twilio` or `smsglobal`.
    pub kind: String,
    /// API root; the provider's production URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Twilio account SID or SMSGlobal API key (also read from `api_key`).
    #[serde(default, alias = "api_key", skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// Twilio auth token or SMSGlobal API secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Where the provider posts delivery receipts (Twilio `StatusCallback`, SMSGlobal
    /// `notifyUrl`); none asked for when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_callback: Option<String>,
    /// Bound on one send request in seconds (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

impl fmt::Debug for ConnectorSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorSettings")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("status_callback", &self.status_callback)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Why stored settings do not make a connector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not one of the connector kinds this build knows.
    #[error("unknown connector kind {0:?}: expected log, twilio or smsglobal")]
    UnknownKind(String),
    /// The settings were stored for another kind than the one asked for.
    #[error("the connector settings are for {stored:?}, not {asked:?}")]
    KindMismatch {
        /// The kind asked for.
        asked: String,
        /// The kind in the settings.
        stored: String,
    },
    /// A setting the kind needs is absent or empty.
    #[error("the {kind} connector needs {setting}")]
    Missing {
        /// The connector kind.
        kind: &'static str,
        /// The setting, in words (`the account SID (account_sid)`).
        setting: &'static str,
    },
    /// A URL setting is not an http(s) URL.
    #[error("{setting} is not an http(s) URL: {value:?}")]
    BadUrl {
        /// `base_url` or `status_callback`.
        setting: &'static str,
        /// The value given.
        value: String,
    },
    /// The timeout is zero or over ten minutes.
    #[error("timeout_secs must be between 1 and 600, not {0}")]
    BadTimeout(u64),
}

fn need(
    value: &Option<String>,
    kind: &'static str,
    setting: &'static str,
) -> Result<String, ConfigError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or(ConfigError::Missing { kind, setting })
}

fn url(value: Option<&str>, default: &str, setting: &'static str) -> Result<String, ConfigError> {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(default);
    match reqwest::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(value.to_string())
        }
        _ => Err(ConfigError::BadUrl {
            setting,
            value: value.to_string(),
        }),
    }
}

/// Builds the connector of `kind` from stored settings, checking every setting it needs
/// (present, URLs that parse, a sane timeout) so that a bad configuration is reported when it
/// is saved or at start-up, not at the first send. Its requests go only where `outbound`
/// allows (a base URL it refuses makes every send fail, nothing sent).
pub fn connector(
    kind: &str,
    settings: &ConnectorSettings,
    outbound: &Outbound,
) -> Result<Box<dyn Connector>, ConfigError> {
    let stored = settings.kind.trim();
    if !stored.is_empty() && stored != kind {
        return Err(ConfigError::KindMismatch {
            asked: kind.to_string(),
            stored: stored.to_string(),
        });
    }
    let timeout = match settings.timeout_secs {
        None => DEFAULT_TIMEOUT,
        Some(s @ 1..=600) => Duration::from_secs(s),
        Some(s) => return Err(ConfigError::BadTimeout(s)),
    };
    let callback = match settings.status_callback.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(cb) => Some(url(Some(cb), "", "status_callback")?),
    };
    match kind {
        "log" => Ok(Box::new(LogConnector)),
        "twilio" => {
            let cfg = TwilioConfig {
                base_url: url(
                    settings.base_url.as_deref(),
                    twilio::DEFAULT_BASE_URL,
                    "base_url",
                )?,
                account_sid: need(
                    &settings.account_sid,
                    "twilio",
                    "the account SID (account_sid)",
                )?,
                auth_token: need(&settings.secret, "twilio", "the auth token (secret)")?,
                status_callback: callback,
                timeout,
                outbound: outbound.clone(),
            };
            Ok(Box::new(TwilioConnector::new(cfg)))
        }
        "smsglobal" => {
            let cfg = SmsGlobalConfig {
                base_url: url(
                    settings.base_url.as_deref(),
                    smsglobal::DEFAULT_BASE_URL,
                    "base_url",
                )?,
                api_key: need(&settings.account_sid, "smsglobal", "the API key (api_key)")?,
                api_secret: need(&settings.secret, "smsglobal", "the API secret (secret)")?,
                notify_url: callback,
                timeout,
                outbound: outbound.clone(),
            };
            Ok(Box::new(SmsGlobalConnector::new(cfg)))
        }
        other => Err(ConfigError::UnknownKind(other.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn twilio_settings() -> ConnectorSettings {
        ConnectorSettings {
            kind: "twilio".into(),
            account_sid: Some("AC123".into()),
            secret: Some("tok-very-secret".into()),
            ..Default::default()
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let shown = format!("{:?}", twilio_settings());
        assert!(shown.contains("AC123"));
        assert!(!shown.contains("tok-very-secret"));
    }

    #[test]
    fn each_kind_builds_from_complete_settings() {
        assert_eq!(
            connector("log", &ConnectorSettings::default(), &Outbound::default())
                .unwrap()
                .kind(),
            "log"
        );
        assert_eq!(
            connector("twilio", &twilio_settings(), &Outbound::default())
                .unwrap()
                .kind(),
            "twilio"
        );
        let sg: ConnectorSettings = serde_json::from_str(
            r#"{"kind":"smsglobal","api_key":"k","secret":"s","base_url":"http://127.0.0.1:1"}"#,
        )
        .unwrap();
        assert_eq!(
            connector("smsglobal", &sg, &Outbound::default())
                .unwrap()
                .kind(),
            "smsglobal"
        );
    }

    #[test]
    fn missing_and_wrong_settings_are_named() {
        let mut s = twilio_settings();
        s.secret = Some("  ".into());
        assert_eq!(
            connector("twilio", &s, &Outbound::default()).err(),
            Some(ConfigError::Missing {
                kind: "twilio",
                setting: "the auth token (secret)"
            })
        );
        let mut s = twilio_settings();
        s.base_url = Some("api.twilio.com".into());
        assert!(matches!(
            connector("twilio", &s, &Outbound::default()).err(),
            Some(ConfigError::BadUrl {
                setting: "base_url",
                ..
            })
        ));
        let mut s = twilio_settings();
        s.status_callback = Some("/relative".into());
        assert!(matches!(
            connector("twilio", &s, &Outbound::default()).err(),
            Some(ConfigError::BadUrl {
                setting: "status_callback",
                ..
            })
        ));
        let mut s = twilio_settings();
        s.timeout_secs = Some(0);
        assert_eq!(
            connector("twilio", &s, &Outbound::default()).err(),
            Some(ConfigError::BadTimeout(0))
        );
        assert_eq!(
            connector("smsglobal", &twilio_settings(), &Outbound::default()).err(),
            Some(ConfigError::KindMismatch {
                asked: "smsglobal".into(),
                stored: "twilio".into()
            })
        );
        assert_eq!(
            connector("smpp", &ConnectorSettings::default(), &Outbound::default()).err(),
            Some(ConfigError::UnknownKind("smpp".into()))
        );
    }
}
