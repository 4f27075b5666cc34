//! Looking up form and query parameters (`&[(String, String)]`, as the web layer decodes
//! them) by their wire names.

use crate::InboundError;

/// The first value of `name`, if present (possibly empty).
pub(crate) fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The first non-empty value among `names` (a provider's field and its older aliases).
pub(crate) fn first_non_empty<'a>(
    params: &'a [(String, String)],
    names: &[&str],
) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| get(params, n).filter(|v| !v.is_empty()))
}

/// A field that must be present and non-empty.
pub(crate) fn required<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, InboundError> {
    get(params, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| InboundError::missing(name))
}

/// A field that must be present but may be empty (a message text).
pub(crate) fn present<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, InboundError> {
    get(params, name).ok_or_else(|| InboundError::missing(name))
}
