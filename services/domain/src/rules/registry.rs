//! The registry: grants and revocations of roles, signed by the trust root (docs/RULES.md,
//! `registry.*`).

use super::*;

impl DomainState {
    /// The registry's rules, for an event [`DomainState::authorise`] found the trust root signed.
    pub(super) fn decide_registry(&self, event: RegistryEvent<'_>) -> Result<Acceptance, Rejection> {
        match event {
            RegistryEvent::KeyGranted(grant) => {
                let active = self.grants.iter().any(|g| {
                    g.public_key == grant.public_key
                        && g.role == grant.role
                        && g.scope == grant.scope
                        && g.revoked_at_log_index.is_none()
                });
                if active {
                    return Err(broken(
                        RuleCode::RegistryGrantNotDuplicate,
                        format!("the key already holds {} for scope {}", grant.role, grant.scope),
                    ));
                }
                Ok(Acceptance::default())
            }
            RegistryEvent::KeyRevoked(revoke) => {
                let active = self.grants.iter().any(|g| {
                    g.public_key == revoke.public_key
                        && g.role == revoke.role
                        && g.scope == revoke.scope
                        && g.revoked_at_log_index.is_none()
                });
                if !active {
                    return Err(broken(
                        RuleCode::RegistryRevokeRequiresGrant,
                        format!("the key holds no active {} grant for scope {}", revoke.role, revoke.scope),
                    ));
                }
                Ok(Acceptance::default())
            }
        }
    }

    pub(super) fn evolve_registry(&mut self, event: RegistryEvent<'_>, recorded: Recorded<'_>) {
        match event {
            RegistryEvent::KeyGranted(grant) => self.grants.push(Grant {
                public_key: grant.public_key,
                role: grant.role,
                scope: grant.scope.clone(),
                holder_title: grant.holder_title.clone(),
                granted_at_log_index: recorded.log_index,
                revoked_at_log_index: None,
            }),
            RegistryEvent::KeyRevoked(revoke) => {
                for g in &mut self.grants {
                    if g.public_key == revoke.public_key
                        && g.role == revoke.role
                        && g.scope == revoke.scope
                        && g.revoked_at_log_index.is_none()
                    {
                        g.revoked_at_log_index = Some(recorded.log_index);
                    }
                }
            }
        }
    }
}
