//! Provider webhooks at `/webhooks/{provider}/{account webhook token}` (SPEC 3.6): inbound
//! replies from Twilio (form, `X-Twilio-Signature` verified with the account's auth token),
//! SMSGlobal (its incoming push, GET or POST), Vonage (GET or POST, form or JSON; `sig` and
//! `timestamp` verified when the account has set its Vonage signature secret, see
//! `replies::vonage_signature`; parts of a concatenated message are kept until whole) and the
//! generic JSON form; and delivery receipts (`.../status` for Twilio, `.../receipt` for
//! SMSGlobal).
//!
//! Every 2xx is sent after the reply and its effects are committed. An unknown token is a
//! bare 404 that says nothing about accounts. Bodies are limited to [`MAX_BODY`]. While the
//! process drains for a shutdown, every webhook is answered 503 with `Retry-After`, so that the
//! provider delivers it again (to another instance, or to this one once it is back).

use crate::error::AppError;
use crate::replies::ReplyOutcome;
use crate::state::AppState;
use crate::web::errors::ApiError;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use stoplist_domain::AccountId;
use stoplist_domain::rules::{AddedBy, OptOutEvent};
use stoplist_providers::vonage::{SignatureMethod, SignatureProblem};
use stoplist_providers::{InboundError, InboundSms, Receipt, ReceiptStatus};
use stoplist_store::{MessageStatus, OptOutCommand, ReceiptUpdate};

/// Largest webhook body (a 10-part SMS with every provider field is under 8 KiB).
pub const MAX_BODY: usize = 64 * 1024;

/// The webhook routes.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/{token}", post(twilio_inbound))
        .route("/webhooks/twilio/{token}/status", post(twilio_status))
        .route(
            "/webhooks/smsglobal/{token}",
            get(smsglobal_inbound).post(smsglobal_inbound),
        )
        .route(
            "/webhooks/smsglobal/{token}/receipt",
            get(smsglobal_receipt).post(smsglobal_receipt),
        )
        .route(
            "/webhooks/vonage/{token}",
            get(vonage_inbound).post(vonage_inbound),
        )
        .route("/webhooks/generic/{token}", post(generic_inbound))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_while_draining,
        ))
}

/// A shutdown is draining the process: take no new reply (the provider retries it).
async fn refuse_while_draining(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.lifecycle.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "this instance is shutting down; deliver the webhook again\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// The account of a token, or a 404 that reveals nothing. Known tokens are remembered (an
/// account's token never changes and accounts are not deleted); unknown ones are asked of the
/// store every time, so that an account created on another instance works at once.
async fn account(state: &AppState, token: &str) -> Result<AccountId, ApiError> {
    if let Some(a) = state.webhook_accounts.get(token) {
        return Ok(a);
    }
    match state.store.account_by_webhook_token(token).await {
        Ok(Some(a)) => {
            state.webhook_accounts.put(token, a);
            Ok(a)
        }
        Ok(None) => {
            tracing::info!("webhook with an unknown token refused");
            Err(ApiError(AppError::NotFound("webhook")))
        }
        Err(e) => Err(ApiError(e.into())),
    }
}

fn bad(provider: &str, e: InboundError) -> ApiError {
    tracing::info!(provider, field = e.field, problem = %e.problem, "webhook refused: bad payload");
    ApiError(AppError::invalid(
        "invalid_field",
        e.field,
        format!("{}: {}", e.field, e.problem),
    ))
}

fn form_pairs(bytes: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| {
        ApiError(AppError::invalid(
            "invalid_field",
            "body",
            format!("body: not form-encoded ({e})"),
        ))
    })
}

/// Query parameters (GET) or the form body (POST).
fn params(
    method: &Method,
    uri: &OriginalUri,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    if *method == Method::GET {
        form_pairs(uri.0.query().unwrap_or("").as_bytes())
    } else {
        form_pairs(body)
    }
}

async fn receive(
    state: &AppState,
    account: AccountId,
    sms: InboundSms,
) -> Result<ReplyOutcome, ApiError> {
    let provider = sms.provider;
    state.replies.receive(account, sms).await.map_err(|e| {
        if !matches!(e, AppError::Internal(_)) {
            tracing::info!(provider, error = %e, "webhook refused");
        }
        ApiError(e)
    })
}

/// The URL Twilio signed: the configured public URL, else what this request was sent to.
fn public_url(state: &AppState, headers: &HeaderMap, uri: &OriginalUri) -> String {
    let path = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match &state.config.public_url {
        Some(base) => format!("{}{}", base.trim_end_matches('/'), path),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}{path}")
        }
    }
}

/// Checks `X-Twilio-Signature` with the account's Twilio auth token (its connector's secret).
async fn check_twilio(
    state: &AppState,
    account: AccountId,
    headers: &HeaderMap,
    uri: &OriginalUri,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let forbidden = |why: &'static str| {
        tracing::warn!(account = %account, why, "Twilio webhook refused");
        ApiError(AppError::Forbidden(why))
    };
    let record = state
        .store
        .connector(account)
        .await
        .map_err(AppError::from)?;
    let token = match record {
        Some(r) if r.kind == "twilio" && !r.secret.is_empty() => r.secret,
        _ => {
            return Err(forbidden(
                "no Twilio auth token is configured for this account (Settings → Connector)",
            ));
        }
    };
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| forbidden("missing X-Twilio-Signature"))?;
    let url = public_url(state, headers, uri);
    if stoplist_providers::twilio::verify_signature(&token, &url, params, signature) {
        Ok(())
    } else {
        Err(forbidden(
            "X-Twilio-Signature does not match (is public_url set to the URL Twilio calls?)",
        ))
    }
}

async fn twilio_inbound(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = account(&state, &token).await?;
    let params = form_pairs(&body)?;
    check_twilio(&state, account, &headers, &uri, &params).await?;
    let sms = stoplist_providers::twilio::parse_inbound(&params).map_err(|e| bad("twilio", e))?;
    receive(&state, account, sms).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/xml")],
        stoplist_providers::twilio::reply_twiml_empty(),
    )
        .into_response())
}

async fn twilio_status(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let account = account(&state, &token).await?;
    let params = form_pairs(&body)?;
    check_twilio(&state, account, &headers, &uri, &params).await?;
    let r =
        stoplist_providers::twilio::parse_status_callback(&params).map_err(|e| bad("twilio", e))?;
    apply_receipt(&state, account, "twilio", r).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn smsglobal_inbound(
    State(state): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    uri: OriginalUri,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let account = account(&state, &token).await?;
    let p = params(&method, &uri, &body)?;
    let sms = stoplist_providers::smsglobal::parse_inbound(&p).map_err(|e| bad("smsglobal", e))?;
    receive(&state, account, sms).await?;
    // SMSGlobal treats any 200 as delivered; "OK" is what its samples answer.
    Ok("OK")
}

async fn smsglobal_receipt(
    State(state): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    uri: OriginalUri,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let account = account(&state, &token).await?;
    let p = params(&method, &uri, &body)?;
    let r = stoplist_providers::smsglobal::parse_receipt(&p).map_err(|e| bad("smsglobal", e))?;
    apply_receipt(&state, account, "smsglobal", r).await?;
    Ok("OK")
}

/// Checks Vonage's `sig` and `timestamp` when the account has set its Vonage signature
/// secret; without one, Vonage webhooks are accepted unsigned (see
/// `replies::vonage_signature` for why).
async fn check_vonage(
    state: &AppState,
    account: AccountId,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let Some(setting) = state
        .store
        .vonage_signature(account)
        .await
        .map_err(AppError::from)?
    else {
        return Ok(());
    };
    let Some(method) = SignatureMethod::parse(&setting.method) else {
        // Methods are parsed before they are stored: this row was changed under us.
        return Err(ApiError(AppError::Internal(anyhow::anyhow!(
            "stored Vonage signature method {:?} is not one",
            setting.method
        ))));
    };
    let now_secs = crate::now_ms() / 1000;
    let Err(problem) =
        stoplist_providers::vonage::check_signed(method, &setting.secret, params, now_secs)
    else {
        return Ok(());
    };
    let why = match problem {
        SignatureProblem::MissingSig => {
            "missing sig: this account checks Vonage signatures; ask Vonage support to sign inbound messages, or clear the Vonage signature method (Settings → Webhooks for replies)"
        }
        SignatureProblem::Mismatch => {
            "sig does not match: the Vonage signature method and secret in Settings → Webhooks for replies must be those of the Vonage dashboard"
        }
        SignatureProblem::MissingTimestamp => {
            "missing timestamp: a signed Vonage webhook carries its time in timestamp (Unix seconds)"
        }
        SignatureProblem::StaleTimestamp => {
            "timestamp is more than 5 minutes from this server's clock: check the server's clock (an old webhook replayed is refused)"
        }
    };
    tracing::warn!(account = %account, %problem, "Vonage webhook refused");
    Err(ApiError(AppError::Forbidden(why)))
}

async fn vonage_inbound(
    State(state): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    uri: OriginalUri,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let account = account(&state, &token).await?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let params = if method == Method::POST && json {
        stoplist_providers::vonage::json_params(&body).map_err(|e| bad("vonage", e))?
    } else {
        params(&method, &uri, &body)?
    };
    check_vonage(&state, account, &params).await?;
    let sms =
        stoplist_providers::vonage::parse_inbound_form(&params).map_err(|e| bad("vonage", e))?;
    receive(&state, account, sms).await?;
    Ok(StatusCode::OK)
}

async fn generic_inbound(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<ReplyOutcome>, ApiError> {
    let account = account(&state, &token).await?;
    let sms = stoplist_providers::generic::parse_inbound(&body).map_err(|e| bad("generic", e))?;
    Ok(Json(receive(&state, account, sms).await?))
}

/// Applies a delivery receipt to its message; a carrier opt-out code lists the number.
async fn apply_receipt(
    state: &AppState,
    account: AccountId,
    provider: &'static str,
    r: Receipt,
) -> Result<(), ApiError> {
    let status = match r.status {
        ReceiptStatus::Delivered => MessageStatus::Delivered,
        ReceiptStatus::Undelivered
        | ReceiptStatus::Expired
        | ReceiptStatus::Failed
        | ReceiptStatus::Canceled => MessageStatus::Failed,
        _ => MessageStatus::Sent,
    };
    let update = ReceiptUpdate {
        provider,
        provider_id: &r.provider_id,
        status,
        error_code: r.error_code.as_deref(),
    };
    let Some((owner, _)) = state
        .store
        .message_account(provider, &r.provider_id)
        .await
        .map_err(AppError::from)?
    else {
        // A receipt for a message we do not know (sent by another system): acknowledged.
        tracing::info!(provider, "receipt for an unknown message ignored");
        return Ok(());
    };
    if owner != account {
        tracing::warn!(provider, "receipt for another account's message ignored");
        return Ok(());
    }
    let message = state
        .store
        .apply_receipt(&update, crate::now_ms())
        .await
        .map_err(AppError::from)?;
    if r.opted_out
        && let Some(m) = message
    {
        let cmd = OptOutCommand {
            number: m.number.clone(),
            event: OptOutEvent::Added(AddedBy::Carrier),
            actor: stoplist_domain::Actor::system(&format!("{provider} receipt")),
            reason: None,
            evidence: Some(format!(
                "{provider} receipt for message {}: error {}",
                r.provider_id,
                r.error_code.as_deref().unwrap_or("opted out")
            )),
            campaign_groups: vec![],
        };
        state.optouts.apply(account, &cmd).await?;
    }
    Ok(())
}
