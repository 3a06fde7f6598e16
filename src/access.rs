//! Who may act on an app (#20). Admins (the install's operators) act on
//! every app; anyone else on the apps they own or collaborate on. The
//! commands reach the check through `Ctx::app` and `Ctx::owned_app`, the
//! SSH command before git runs, and add-on lookups by name through the app
//! the add-on was made for.

use crate::state::AppSettings;

/// Who is logged in, as the key's forced command says: what the checks
/// here and the audit trail know of a caller.
pub struct Caller {
    pub user: String,
    /// The key's fingerprint (`SHA256:…`).
    pub key: String,
    /// A deploy key's one app.
    pub deploy: Option<String>,
}

/// What someone is to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Owner,
    Collaborator,
    /// May not see the app at all.
    Stranger,
}

/// What a command does to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Everything a developer does: deploy, config, scale, run, logs,
    /// domains, add-ons (create, attach), …
    Use,
    /// What only its owner (or an admin) does: destroy it, transfer it,
    /// change who may use it, destroy its add-ons.
    Own,
}

impl Role {
    /// `user`'s role on an app with these settings; `admin` for an admin.
    pub fn of(user: &str, admin: bool, app: &AppSettings) -> Role {
        if admin {
            Role::Admin
        } else if app.owner.as_deref() == Some(user) {
            Role::Owner
        } else if app.collaborators.iter().any(|c| c == user) {
            Role::Collaborator
        } else {
            Role::Stranger
        }
    }

    /// The authorization table.
    pub fn allows(self, action: Action) -> bool {
        match (self, action) {
            (Role::Admin | Role::Owner, _) => true,
            (Role::Collaborator, Action::Use) => true,
            (Role::Collaborator, Action::Own) => false,
            (Role::Stranger, _) => false,
        }
    }

    /// Whether the app shows at all (else it answers as one that does not exist).
    pub fn sees(self) -> bool {
        self != Role::Stranger
    }

    /// As `access` lists it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Collaborator => "collaborator",
            Role::Stranger => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(owner: Option<&str>, collaborators: &[&str]) -> AppSettings {
        AppSettings {
            owner: owner.map(String::from),
            collaborators: collaborators.iter().map(|c| c.to_string()).collect(),
            ..AppSettings::default()
        }
    }

    #[test]
    fn the_authorization_table() {
        let shared = app(Some("alice"), &["bob"]);
        let cases = [
            // (user, admin, use, own)
            ("root", true, true, true),
            ("alice", false, true, true),
            ("bob", false, true, false),
            ("eve", false, false, false),
        ];
        for (user, admin, may_use, may_own) in cases {
            let role = Role::of(user, admin, &shared);
            assert_eq!(role.allows(Action::Use), may_use, "{user} using");
            assert_eq!(role.allows(Action::Own), may_own, "{user} owning");
            assert_eq!(role.sees(), may_use, "{user} seeing");
        }
    }

    #[test]
    fn an_app_from_before_owners_is_for_admins_alone() {
        let old = app(None, &[]);
        assert_eq!(Role::of("admin", true, &old), Role::Admin);
        assert_eq!(Role::of("admin", false, &old), Role::Stranger);
        assert_eq!(
            Role::of("", false, &old),
            Role::Stranger,
            "no name matches a missing owner"
        );
    }

    #[test]
    fn an_admin_is_an_admin_whatever_else_they_are() {
        assert_eq!(
            Role::of("bob", true, &app(Some("alice"), &["bob"])),
            Role::Admin
        );
        assert_eq!(
            Role::of("alice", true, &app(Some("alice"), &[])),
            Role::Admin
        );
    }
}
