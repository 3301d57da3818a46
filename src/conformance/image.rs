//! What a tag's image is, as far as its broker answers go: its Mosquitto version and what serves
//! WebSocket in it (`[builds.SET]` in `conformance.toml`). Pure data, read and checked by
//! [`super::expected`]; the basis on which [`super::derive`] derives answers.

/// What serves WebSocket in a tag's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebSocketCode {
    /// libwebsockets, at this version (`4.2.1`).
    Libwebsockets(String),
    /// Mosquitto's own WebSocket code (2.1 on), no libwebsockets.
    BuiltIn,
}

impl WebSocketCode {
    /// Reads `libwebsockets X.Y.Z` or `built-in`.
    pub fn parse(text: &str) -> Result<WebSocketCode, String> {
        match text.trim() {
            "built-in" => Ok(WebSocketCode::BuiltIn),
            t => match t.strip_prefix("libwebsockets ") {
                Some(v) if v.split('.').next().is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit())) => {
                    Ok(WebSocketCode::Libwebsockets(v.trim().to_string()))
                }
                _ => Err(format!("websocket = {t:?} is neither \"libwebsockets X.Y.Z\" nor \"built-in\"")),
            },
        }
    }

    /// The family whose measured answers stand for each other: `libwebsockets 4.x` or `built-in`.
    pub fn family(&self) -> String {
        match self {
            WebSocketCode::Libwebsockets(v) => format!("libwebsockets {}.x", v.split('.').next().unwrap_or(v)),
            WebSocketCode::BuiltIn => "Mosquitto's built-in WebSocket code".into(),
        }
    }

    /// As a basis names it and `conformance.toml` writes it: `libwebsockets 4.1.6`, `built-in`.
    pub fn name(&self) -> String {
        match self {
            WebSocketCode::Libwebsockets(v) => format!("libwebsockets {v}"),
            WebSocketCode::BuiltIn => "built-in".into(),
        }
    }
}

/// A tag's image: its Mosquitto version and what serves WebSocket (`[builds.SET]` in
/// `conformance.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// Mosquitto's version (`2.0.11`).
    pub mosquitto: String,
    /// What serves WebSocket.
    pub websocket: WebSocketCode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_websocket_code_reads_as_libwebsockets_with_a_version_or_built_in_and_nothing_else() {
        assert_eq!(WebSocketCode::parse("libwebsockets 4.2.1"), Ok(WebSocketCode::Libwebsockets("4.2.1".into())));
        assert_eq!(WebSocketCode::parse("built-in"), Ok(WebSocketCode::BuiltIn));
        assert_eq!(WebSocketCode::Libwebsockets("4.2.1".into()).family(), "libwebsockets 4.x");
        for bad in ["lws 4.2.1", "libwebsockets", "libwebsockets x.1", ""] {
            assert!(WebSocketCode::parse(bad).is_err(), "{bad}");
        }
    }
}
