//! Recipient resolution: an address in one of our domains becomes the mailboxes and remote
//! addresses it delivers to, through alias domains, aliases (nested, to a depth limit, loops
//! cut), subaddresses and catch-alls, with Postfix's virtual(5) order of lookups. An address
//! in an alias domain is looked up in the target domain, unless an alias row names it itself.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::directory::{Directory, Mailbox};
use crate::{Lookup, Unavailable};
use proto::{Address, Domain};

/// Where mail for one address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local mailbox, with the subaddress detail the mail was sent to (for folder delivery).
    Local {
        /// The mailbox.
        mailbox: Mailbox,
        /// `lists` for `bob+lists@`; carried through aliases like Postfix's propagate_unmatched_extensions.
        detail: Option<String>,
    },
    /// An address outside our domains (a forwarding alias).
    Remote(Address),
}

struct Pending {
    addr: Address,
    depth: u32,
    detail: Option<String>,
}

impl Directory {
    /// Resolve a recipient. Not found when the domain is not ours or nothing matches.
    pub async fn resolve(&self, rcpt: &Address) -> Lookup<Vec<Target>> {
        // Domain answers are reused within one resolution: aliases mostly stay in one domain.
        let mut domains: HashMap<Domain, Option<Domain>> = HashMap::new();
        let first = self.local_domain(rcpt.domain()).await?;
        if first.is_none() {
            return Ok(None);
        }
        domains.insert(rcpt.domain().clone(), first);
        let mut targets: Vec<Target> = Vec::new();
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([Pending { addr: rcpt.clone(), depth: 0, detail: None }]);
        while let Some(p) = queue.pop_front() {
            if !seen.insert(p.addr.clone()) {
                tracing::warn!(rcpt = %rcpt, address = %p.addr, "alias loop: address seen before, dropped");
                continue;
            }
            let known = domains.get(p.addr.domain()).cloned();
            let local = match known {
                Some(d) => d,
                None => {
                    let d = self.local_domain(p.addr.domain()).await?;
                    domains.insert(p.addr.domain().clone(), d.clone());
                    d
                }
            };
            let Some(domain) = local else {
                push(&mut targets, Target::Remote(p.addr));
                continue;
            };
            let addr = p.addr.with_domain(&domain);
            let (base, detail) = addr.split_detail(&self.cfg.recipient_delimiter);
            let detail = detail.or(p.detail);
            // An alias row of the alias domain's own address wins over the mapping, as
            // postfixadmin's alias map comes before its alias-domain maps in virtual_alias_maps.
            let own = if p.addr.domain() != &domain {
                let (own_base, _) = p.addr.split_detail(&self.cfg.recipient_delimiter);
                self.aliases_of(&p.addr, &own_base).await?
            } else {
                None
            };
            let expansion = match own {
                Some(gotos) => Expansion::Aliases(gotos),
                None => self.expand_one(&addr, &base).await?,
            };
            match expansion {
                Expansion::Aliases(gotos) => {
                    for goto in gotos {
                        let Some(t) = target_address(&goto, &base) else {
                            tracing::warn!(rcpt = %rcpt, goto = %goto, "alias target is not an address, skipped");
                            continue;
                        };
                        if t == base || t == addr {
                            // postfixadmin's self-alias: deliver to the mailbox itself.
                            match self.mailbox(&base).await? {
                                Some(mailbox) => {
                                    push(&mut targets, Target::Local { mailbox, detail: detail.clone() })
                                }
                                None => {
                                    tracing::warn!(rcpt = %rcpt, address = %base, "alias to itself but no mailbox")
                                }
                            }
                        } else if p.depth + 1 > self.cfg.alias_depth {
                            tracing::warn!(rcpt = %rcpt, address = %t, "alias nesting deeper than alias_depth, dropped");
                        } else {
                            queue.push_back(Pending { addr: t, depth: p.depth + 1, detail: detail.clone() });
                        }
                    }
                }
                Expansion::Mailbox(mailbox) => push(&mut targets, Target::Local { mailbox, detail }),
                Expansion::Nothing => {}
            }
        }
        Ok((!targets.is_empty()).then_some(targets))
    }

    /// One step of Postfix's virtual lookup order: the full address (with its detail), the
    /// address without detail, the mailbox, then the domain's catch-all. A mailbox wins over
    /// the catch-all even without postfixadmin's self-alias row.
    async fn expand_one(&self, addr: &Address, base: &Address) -> Result<Expansion, Unavailable> {
        if let Some(g) = self.aliases_of(addr, base).await? {
            return Ok(Expansion::Aliases(g));
        }
        if let Some(m) = self.mailbox(base).await? {
            return Ok(Expansion::Mailbox(m));
        }
        let catch_all = format!("@{}", base.domain());
        Ok(match self.alias(&catch_all, None).await? {
            Some(g) => Expansion::Aliases(g),
            None => Expansion::Nothing,
        })
    }

    /// The alias row of the full address (with its detail), else of the address without it.
    async fn aliases_of(&self, addr: &Address, base: &Address) -> Lookup<Vec<String>> {
        if let Some(g) = self.alias(&addr.to_string(), Some(addr)).await? {
            return Ok(Some(g));
        }
        if base != addr {
            return self.alias(&base.to_string(), Some(base)).await;
        }
        Ok(None)
    }
}

enum Expansion {
    Aliases(Vec<String>),
    Mailbox(Mailbox),
    Nothing,
}

/// An alias target: a full address, or `@domain` meaning the same local part there (old
/// postfixadmin alias domains).
fn target_address(goto: &str, from: &Address) -> Option<Address> {
    match goto.strip_prefix('@') {
        Some(d) => Domain::parse(d).ok().map(|d| from.with_domain(&d)),
        None => Address::parse(goto).ok(),
    }
}

fn push(targets: &mut Vec<Target>, t: Target) {
    if !targets.contains(&t) {
        targets.push(t);
    }
}
