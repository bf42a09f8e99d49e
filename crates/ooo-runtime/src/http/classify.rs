//! Turning an HTTP failure into a [`RuntimeError`] a program can act on: its kind, a
//! message with the provider's own words, and a hint naming the fix (the key variable,
//! the base URL and model, the server to start). The key never appears: provider
//! messages that echo it are redacted. What does not live here: retrying
//! ([`super::retry`]), making the call ([`super::transport`]).

use std::io;
use std::time::Duration;

use ooo_core::runtime::{RuntimeError, RuntimeErrorKind};
use serde_json::Value;

/// What an error needs to name: the provider, where it was asked, and how.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub provider: &'a str,
    pub base_url: &'a str,
    pub model: &'a str,
    /// The NAME of the variable holding the key, when the provider uses one.
    pub key_env: Option<&'a str>,
    /// The key itself, only to redact it from provider messages.
    pub key: Option<&'a str>,
    pub timeout: Duration,
}

/// The longest provider message quoted in an error.
const MAX_QUOTED: usize = 400;

impl Context<'_> {
    fn error(&self, kind: RuntimeErrorKind, message: String, hint: String) -> RuntimeError {
        RuntimeError::new(kind, self.provider, self.redact(&message), self.redact(&hint))
    }

    fn redact(&self, text: &str) -> String {
        match self.key {
            Some(key) if key.len() >= 4 => text.replace(key, "[redacted]"),
            _ => text.to_owned(),
        }
    }

    fn check_key(&self) -> String {
        match self.key_env {
            Some(var) => format!("check the key in ${var}"),
            None => format!(
                "{} wants a key: set api_key_env to the name of the variable that holds it",
                self.base_url
            ),
        }
    }

    /// The key variable is named but unset or empty.
    pub(crate) fn missing_key(&self, var: &str) -> RuntimeError {
        self.error(
            RuntimeErrorKind::Auth,
            format!("no API key: ${var} is not set"),
            format!("export {var}=<your key for {}>", self.base_url),
        )
    }

    /// A non-2xx answer, with its body and any `Retry-After`.
    pub(crate) fn status(
        &self,
        status: u16,
        body: &str,
        retry_after: Option<Duration>,
    ) -> RuntimeError {
        let said = provider_message(body);
        let (kind, message, hint) = match status {
            401 | 403 => (
                RuntimeErrorKind::Auth,
                format!("the API refused the key ({status}): {said}"),
                self.check_key(),
            ),
            404 => (
                RuntimeErrorKind::NotFound,
                format!("not found (404) at {}: {said}", self.base_url),
                format!("check base_url ({}) and model ({})", self.base_url, self.model),
            ),
            429 => (
                RuntimeErrorKind::RateLimited,
                format!("rate limited (429): {said}"),
                rate_hint(retry_after),
            ),
            408 | 500..=599 => (
                RuntimeErrorKind::Unavailable,
                format!("the server failed ({status}): {said}"),
                "the provider is having trouble: try again later".to_owned(),
            ),
            _ => (
                RuntimeErrorKind::BadRequest,
                format!("the request was refused ({status}): {said}"),
                format!("the provider says: {said}"),
            ),
        };
        self.error(kind, message, hint).with_status(status).with_retry_after(retry_after)
    }

    /// The request could not be made or answered (no HTTP status).
    pub(crate) fn transport(&self, error: &ureq::Error) -> RuntimeError {
        let base = self.base_url;
        match error {
            ureq::Error::Timeout(_) => self.timeout_error(),
            ureq::Error::Io(e) => self.io(e),
            ureq::Error::HostNotFound => self.error(
                RuntimeErrorKind::Unavailable,
                format!("cannot resolve the host of {base}"),
                format!("check the host in base_url ({base}) and the network"),
            ),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => self.error(
                RuntimeErrorKind::InvalidTask,
                format!("base_url {base} does not make a valid request URL: {error}"),
                "set base_url to an http:// or https:// URL".to_owned(),
            ),
            ureq::Error::Protocol(_) => self.error(
                RuntimeErrorKind::Protocol,
                format!("{base} did not answer in HTTP: {error}"),
                format!("check that base_url ({base}) points at the model API"),
            ),
            _ => self.unreachable(&error.to_string()),
        }
    }

    fn io(&self, error: &io::Error) -> RuntimeError {
        if let Some(inner) = error.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>()) {
            return self.transport(inner);
        }
        match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => self.timeout_error(),
            _ => self.unreachable(&error.to_string()),
        }
    }

    fn unreachable(&self, cause: &str) -> RuntimeError {
        let base = self.base_url;
        self.error(
            RuntimeErrorKind::Unavailable,
            format!("cannot connect to {base}: {cause}"),
            format!("is the server at {base} running?"),
        )
    }

    fn timeout_error(&self) -> RuntimeError {
        self.error(
            RuntimeErrorKind::WallClockTimeout,
            format!("no complete answer from {} within {:?}", self.base_url, self.timeout),
            "raise the provider's timeout, or check that the server is answering".to_owned(),
        )
    }

    /// Reading the answer's stream failed after the headers arrived.
    pub(crate) fn broken_stream(&self, error: &io::Error) -> RuntimeError {
        let timed_out = error.get_ref().and_then(|e| e.downcast_ref::<ureq::Error>());
        if matches!(timed_out, Some(ureq::Error::Timeout(_)))
            || error.kind() == io::ErrorKind::TimedOut
        {
            return self.timeout_error();
        }
        self.error(
            RuntimeErrorKind::Protocol,
            format!("the answer from {} broke off mid-stream: {error}", self.base_url),
            "try again; if it keeps happening, check the server or a proxy in between".to_owned(),
        )
    }

    /// The stream ended or said something the wire format does not allow.
    pub(crate) fn protocol(&self, what: &str) -> RuntimeError {
        self.error(
            RuntimeErrorKind::Protocol,
            format!("unexpected answer from {}: {what}", self.base_url),
            format!("check that base_url ({}) points at a compatible API", self.base_url),
        )
    }

    /// An error the provider reported inside a stream that had started well.
    pub(crate) fn in_stream(&self, kind: RuntimeErrorKind, error: &Value) -> RuntimeError {
        let said = quote(&message_of(error).unwrap_or_else(|| error.to_string()));
        self.error(
            kind,
            format!("the provider reported an error mid-stream: {said}"),
            format!("the provider says: {said}"),
        )
    }
}

fn rate_hint(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(
            "the provider asked to wait {}s; try later or lower the request rate",
            wait.as_secs()
        ),
        None => "try again later, or lower the request rate".to_owned(),
    }
}

/// The provider's own words in an error body: `error.message` (Anthropic, OpenAI,
/// Google, vLLM), `error` as a string (Ollama), `message` or `detail`; else the body.
pub(crate) fn provider_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let said = parsed.as_ref().and_then(message_of).unwrap_or_else(|| body.trim().to_owned());
    if said.is_empty() { "(no message)".to_owned() } else { quote(&said) }
}

fn message_of(value: &Value) -> Option<String> {
    [value.pointer("/error/message"), value.get("error"), value.get("message"), value.get("detail")]
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .map(str::to_owned)
}

fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(MAX_QUOTED).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            provider: "openai",
            base_url: "http://127.0.0.1:9/v1",
            model: "gpt-x",
            key_env: Some("OPENAI_API_KEY"),
            key: Some("sk-secret-123"),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn auth_failures_name_the_variable_and_never_the_key() {
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-secret-123"}}"#;
        let err = ctx().status(401, body, None);
        assert_eq!((err.kind, err.status), (RuntimeErrorKind::Auth, Some(401)));
        assert_eq!(err.hint, "check the key in $OPENAI_API_KEY");
        assert!(
            !err.message.contains("sk-secret-123") && err.message.contains("[redacted]"),
            "{}",
            err.message
        );
        let keyless = Context { key_env: None, ..ctx() }.status(403, "{}", None);
        assert!(keyless.hint.contains("api_key_env"), "{}", keyless.hint);
    }

    #[test]
    fn not_found_points_at_base_url_and_model() {
        let err = ctx().status(404, "404 page not found", None);
        assert_eq!(err.kind, RuntimeErrorKind::NotFound);
        assert_eq!(err.hint, "check base_url (http://127.0.0.1:9/v1) and model (gpt-x)");
        assert!(err.message.contains("404 page not found"));
    }

    #[test]
    fn other_client_errors_carry_the_providers_message() {
        let err = ctx().status(400, r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#, None);
        assert_eq!(err.kind, RuntimeErrorKind::BadRequest);
        assert_eq!(err.hint, "the provider says: max_tokens: too big");
    }

    #[test]
    fn rate_limits_and_server_errors_are_retryable_kinds() {
        let limited = ctx().status(429, "{}", Some(Duration::from_secs(3)));
        assert_eq!(
            (limited.kind, limited.retry_after),
            (RuntimeErrorKind::RateLimited, Some(Duration::from_secs(3)))
        );
        assert!(limited.hint.contains("3s"));
        for status in [500, 502, 503, 529, 408] {
            assert_eq!(
                ctx().status(status, "", None).kind,
                RuntimeErrorKind::Unavailable,
                "{status}"
            );
        }
    }

    #[test]
    fn provider_messages_in_the_usual_shapes() {
        assert_eq!(provider_message(r#"{"error":"model 'x' not found"}"#), "model 'x' not found");
        assert_eq!(provider_message(r#"{"object":"error","message":"bad"}"#), "bad");
        assert_eq!(provider_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(provider_message(""), "(no message)");
        assert_eq!(provider_message(&"x".repeat(1000)).chars().count(), MAX_QUOTED + 1);
    }

    #[test]
    fn refused_connection_asks_whether_the_server_runs() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = ctx().transport(&ureq::Error::Io(refused));
        assert_eq!(err.kind, RuntimeErrorKind::Unavailable);
        assert_eq!(err.hint, "is the server at http://127.0.0.1:9/v1 running?");
    }
}
