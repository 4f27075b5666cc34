//! An account's settings (SPEC 3.3), their defaults, their validation, and the list of
//! changes an update makes (each change is recorded with who, when, old and new value).

use crate::names::TextError;
use crate::phone::Region;
use serde::{Deserialize, Serialize};

/// The settings of one account. Always valid: built by `Default` or by [`SettingsPatch::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettings {
    /// "Automatically delete Opt Outs from Contacts" (default off).
    pub auto_delete_optouts: bool,
    /// "Recipient Opt Out removes user from all groups?" (default off; no effect unless
    /// `auto_delete_optouts` is on).
    pub remove_from_all_groups: bool,
    /// "Enforce Global Optouts" (default on).
    pub enforce_global_optouts: bool,
    /// How local-format numbers are read (default AU).
    pub default_region: Region,
    /// Send one confirmation text right after an opt-out by reply (default on).
    pub confirmation_enabled: bool,
    /// The confirmation text; `{sender}` is replaced by the sender id.
    pub confirmation_text: String,
    /// The answer to a help keyword; `{sender}` is replaced by the sender id.
    pub help_text: String,
    /// Append the footer to campaign messages that carry no opt-out instruction (default on).
    pub footer_enabled: bool,
    /// The opt-out footer.
    pub footer_text: String,
    /// Whether a reply classified `unclear` counts as an opt-out until a person reviews it
    /// (default on: missing an opt-out is the worse error).
    pub unclear_counts_as_optout: bool,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            auto_delete_optouts: false,
            remove_from_all_groups: false,
            enforce_global_optouts: true,
            default_region: Region::AU,
            confirmation_enabled: true,
            confirmation_text: "You have been unsubscribed from {sender} messages. No further \
                                messages will be sent."
                .into(),
            help_text: "{sender}: reply STOP to opt out.".into(),
            footer_enabled: true,
            footer_text: "Reply STOP to opt out".into(),
            unclear_counts_as_optout: true,
        }
    }
}

/// Longest text setting, in characters (two concatenated SMS of UCS-2 are 134 characters;
/// 320 leaves room for GSM-7 texts of two segments and a sender id).
pub const MAX_TEXT: usize = 320;

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub auto_delete_optouts: Option<bool>,
    pub remove_from_all_groups: Option<bool>,
    pub enforce_global_optouts: Option<bool>,
    pub default_region: Option<String>,
    pub confirmation_enabled: Option<bool>,
    pub confirmation_text: Option<String>,
    pub help_text: Option<String>,
    pub footer_enabled: Option<bool>,
    pub footer_text: Option<String>,
    pub unclear_counts_as_optout: Option<bool>,
}

/// One changed field: recorded in the settings history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// What is wrong with a settings update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("default_region: {0}")]
    Region(String),
}

impl SettingsError {
    pub fn field(&self) -> &'static str {
        match self {
            SettingsError::Text(e) => e.field(),
            SettingsError::Region(_) => "default_region",
        }
    }
}

fn text(raw: &str, field: &'static str) -> Result<String, TextError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(TextError::Empty { field });
    }
    let len = t.chars().count();
    if len > MAX_TEXT {
        return Err(TextError::TooLong {
            field,
            len,
            max: MAX_TEXT,
        });
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(TextError::ControlCharacter { field });
    }
    Ok(t.to_owned())
}

impl SettingsPatch {
    /// Validates the patch against `current` and returns the new settings and the list of
    /// fields that really change (a field set to its current value is not a change). On error
    /// nothing is applied.
    pub fn apply(
        &self,
        current: &AccountSettings,
    ) -> Result<(AccountSettings, Vec<SettingChange>), SettingsError> {
        let mut next = current.clone();
        let mut changes = Vec::new();
        let mut flag = |field: &'static str, slot: &mut bool, value: Option<bool>| {
            if let Some(v) = value
                && *slot != v
            {
                changes.push(SettingChange {
                    field,
                    old: slot.to_string(),
                    new: v.to_string(),
                });
                *slot = v;
            }
        };
        flag(
            "auto_delete_optouts",
            &mut next.auto_delete_optouts,
            self.auto_delete_optouts,
        );
        flag(
            "remove_from_all_groups",
            &mut next.remove_from_all_groups,
            self.remove_from_all_groups,
        );
        flag(
            "enforce_global_optouts",
            &mut next.enforce_global_optouts,
            self.enforce_global_optouts,
        );
        flag(
            "confirmation_enabled",
            &mut next.confirmation_enabled,
            self.confirmation_enabled,
        );
        flag(
            "footer_enabled",
            &mut next.footer_enabled,
            self.footer_enabled,
        );
        flag(
            "unclear_counts_as_optout",
            &mut next.unclear_counts_as_optout,
            self.unclear_counts_as_optout,
        );
        if let Some(raw) = &self.default_region {
            let region = Region::parse(raw).map_err(|e| SettingsError::Region(e.to_string()))?;
            if region != next.default_region {
                changes.push(SettingChange {
                    field: "default_region",
                    old: next.default_region.to_string(),
                    new: region.to_string(),
                });
                next.default_region = region;
            }
        }
        let texts: [(&'static str, &Option<String>, &mut String); 3] = [
            (
                "confirmation_text",
                &self.confirmation_text,
                &mut next.confirmation_text,
            ),
            ("help_text", &self.help_text, &mut next.help_text),
            ("footer_text", &self.footer_text, &mut next.footer_text),
        ];
        for (field, value, slot) in texts {
            if let Some(raw) = value {
                let v = text(raw, field)?;
                if *slot != v {
                    changes.push(SettingChange {
                        field,
                        old: slot.clone(),
                        new: v.clone(),
                    });
                    *slot = v;
                }
            }
        }
        Ok((next, changes))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let s = AccountSettings::default();
        assert!(!s.auto_delete_optouts);
        assert!(!s.remove_from_all_groups);
        assert!(s.enforce_global_optouts);
        assert_eq!(s.default_region.as_str(), "AU");
        assert!(s.confirmation_enabled && s.footer_enabled);
        assert_eq!(s.footer_text, "Reply STOP to opt out");
    }

    #[test]
    fn a_patch_lists_only_real_changes() {
        let cur = AccountSettings::default();
        let patch = SettingsPatch {
            auto_delete_optouts: Some(true),
            enforce_global_optouts: Some(true),
            default_region: Some("nz".into()),
            ..Default::default()
        };
        let (next, changes) = patch.apply(&cur).expect("valid patch");
        assert!(next.auto_delete_optouts);
        assert_eq!(next.default_region.as_str(), "NZ");
        let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, ["auto_delete_optouts", "default_region"]);
        assert_eq!(changes[1].old, "AU");
    }

    #[test]
    fn a_bad_patch_changes_nothing_and_names_the_field() {
        let cur = AccountSettings::default();
        let patch = SettingsPatch {
            auto_delete_optouts: Some(true),
            help_text: Some("   ".into()),
            ..Default::default()
        };
        let err = patch.apply(&cur).expect_err("empty help text");
        assert_eq!(err.field(), "help_text");
        let patch = SettingsPatch {
            default_region: Some("XX".into()),
            ..Default::default()
        };
        assert_eq!(
            patch.apply(&cur).expect_err("bad region").field(),
            "default_region"
        );
    }
}
