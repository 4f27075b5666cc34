//! The `log` connector: stoplist's embedded default. Nothing leaves the machine; each message
//! is written to the log (number masked) and accepted at once.

use stoplist_domain::phone::mask_raw;

use crate::{Accepted, Connector, OutboundSms, SendError};

/// Accepts every message without sending it, logging it at `info` with the recipient
/// masked (`+614****5678`) and the text's length, never its content. The provider id is
/// `log-<reference>`, so that reports can still tell messages apart.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogConnector;

#[async_trait::async_trait]
impl Connector for LogConnector {
    fn kind(&self) -> &'static str {
        "log"
    }

    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError> {
        tracing::info!(
            connector = "log",
            to = %mask_raw(&sms.to),
            from = %sms.from,
            reference = %sms.reference,
            chars = sms.text.chars().count(),
            "message recorded, not sent (log connector)"
        );
        Ok(Accepted {
            provider_id: format!("log-{}", sms.reference),
            status: Some("logged".to_string()),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn log_connector_accepts_with_an_id_made_of_the_reference() {
        let sms = OutboundSms {
            to: "+61412345678".into(),
            from: "Acme".into(),
            text: "hello".into(),
            reference: "m-42".into(),
        };
        let accepted = LogConnector.send(&sms).await;
        assert_eq!(
            accepted,
            Ok(Accepted {
                provider_id: "log-m-42".into(),
                status: Some("logged".into())
            })
        );
        assert_eq!(LogConnector.kind(), "log");
    }
}
