//! The registries: the platform's (`registry`), which registers councils and grants roles for
//! the platform's own assemblies, and each council's (`council/<id>`), whose own trust root
//! grants roles for that council's assemblies only (docs/RULES.md, `registry.*`, `council.*`).

use super::*;

impl DomainState {
    /// Who may sign a registry event in its stream: the platform's trust root in `registry`
    /// and for a council's registration; the council's root for its grants and revocations.
    pub(super) fn authorise_registry(
        &self,
        event: &DomainEvent,
        proposal: Proposal<'_>,
    ) -> Result<AuthorisedBy<'_>, Rejection> {
        let council = registry_of_stream(proposal.stream).flatten();
        let (root, rule, message) = match (council, event) {
            (None, DomainEvent::CouncilRegistered(_)) => {
                return Err(broken(
                    RuleCode::EventStreamMatches,
                    "a council is registered on its own stream, council/<id>, not on registry",
                ))
            }
            (None, _) | (Some(_), DomainEvent::CouncilRegistered(_)) => (
                &self.trust_root,
                RuleCode::RegistryTrustRootOnly,
                if council.is_some() {
                    "only the platform's trust root may register a council".to_string()
                } else {
                    "only the platform's trust root may grant or revoke keys in registry".to_string()
                },
            ),
            (Some(council), _) => {
                let registered = self.councils.get(council).ok_or_else(|| {
                    broken(RuleCode::CouncilRegisteredFirst, format!("council {council} is not registered"))
                })?;
                (
                    &registered.root_public_key,
                    RuleCode::RegistryCouncilRootOnly,
                    format!("only council {council}'s own trust root may grant or revoke keys in council/{council}"),
                )
            }
        };
        if proposal.author != root {
            return Err(Rejection::NotAuthorised { rule, message });
        }
        Ok(AuthorisedBy::TrustRoot)
    }

    /// The registry's rules, for an event [`DomainState::authorise`] found its trust root
    /// signed, in `stream` (`registry` or `council/<id>`).
    pub(super) fn decide_registry(&self, event: RegistryEvent<'_>, stream: &str) -> Result<Acceptance, Rejection> {
        let council = registry_of_stream(stream).flatten();
        let grants = self.grants_of(council);
        let scope_in_registry = |scope: &Scope| match (scope, council) {
            (Scope::AllAssemblies, _) => Ok(()),
            (Scope::Assembly(assembly), council) if assembly.council() == council => Ok(()),
            (Scope::Assembly(assembly), None) => Err(broken(
                RuleCode::RegistryScopeInCouncil,
                format!("assembly {assembly} belongs to a council: only that council's registry grants for it"),
            )),
            (Scope::Assembly(assembly), Some(council)) => Err(broken(
                RuleCode::RegistryScopeInCouncil,
                format!("council {council} grants only for its own assemblies ({council}.…), not {assembly}"),
            )),
        };
        match event {
            RegistryEvent::KeyGranted(grant) => {
                scope_in_registry(&grant.scope)?;
                let active = grants.iter().any(|g| {
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
                let active = grants.iter().any(|g| {
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
            RegistryEvent::CouncilRegistered(registered) => {
                if council != Some(registered.council_id.as_str()) {
                    return Err(broken(
                        RuleCode::EventStreamMatches,
                        format!("council id {} does not match stream {stream}", registered.council_id),
                    ));
                }
                if self.councils.contains_key(&registered.council_id) {
                    return Err(broken(
                        RuleCode::CouncilRegisteredOnce,
                        format!("council {} is already registered", registered.council_id),
                    ));
                }
                let root = &registered.root_public_key;
                if *root == self.trust_root || self.councils.values().any(|c| c.root_public_key == *root) {
                    return Err(broken(
                        RuleCode::CouncilRootDistinct,
                        "a council's trust root must be its own: not the platform's, nor another council's",
                    ));
                }
                Ok(Acceptance::default())
            }
        }
    }

    pub(super) fn evolve_registry(&mut self, event: RegistryEvent<'_>, recorded: Recorded<'_>, council: Option<&str>) {
        if let RegistryEvent::CouncilRegistered(registered) = event {
            self.councils.insert(
                registered.council_id.clone(),
                CouncilState {
                    name: registered.name.clone(),
                    root_public_key: registered.root_public_key,
                    registered_at_log_index: recorded.log_index,
                    grants: Vec::new(),
                },
            );
            return;
        }
        let grants = match council {
            None => &mut self.grants,
            Some(council) => match self.councils.get_mut(council) {
                Some(registered) => &mut registered.grants,
                None => return,
            },
        };
        match event {
            RegistryEvent::KeyGranted(grant) => grants.push(Grant {
                public_key: grant.public_key,
                role: grant.role,
                scope: grant.scope.clone(),
                holder_title: grant.holder_title.clone(),
                granted_at_log_index: recorded.log_index,
                revoked_at_log_index: None,
            }),
            RegistryEvent::KeyRevoked(revoke) => {
                for g in grants.iter_mut() {
                    if g.public_key == revoke.public_key
                        && g.role == revoke.role
                        && g.scope == revoke.scope
                        && g.revoked_at_log_index.is_none()
                    {
                        g.revoked_at_log_index = Some(recorded.log_index);
                    }
                }
            }
            RegistryEvent::CouncilRegistered(_) => {}
        }
    }
}
