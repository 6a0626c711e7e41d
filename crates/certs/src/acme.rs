//! ACME orders (RFC 8555) through instant-acme: the account (created once, stored), one order per
//! domain for all its HTTPS names, HTTP-01 challenges answered by mailbeacon's own HTTP listener.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use mailbeacon_model::AcmeSettings;

use crate::store::{Issued, IssuedStore, StoreError};

/// Why an account or an order failed; the message says what the CA or the network said.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA answered with an error or could not be reached.
    #[error("ACME: {0}")]
    Protocol(String),
    /// The order ended without a certificate (a challenge failed, CAA forbids the CA, …).
    #[error("the order for {domain} failed: {reason}")]
    Order {
        /// The domain.
        domain: String,
        /// Why (the CA's problem documents).
        reason: String,
    },
    /// The state directory.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> AcmeError {
        AcmeError::Protocol(e.to_string())
    }
}

/// HTTP-01 tokens being validated: token → key authorization, served at
/// `/.well-known/acme-challenge/<token>` on every name of the port-80 listener.
#[derive(Debug, Default)]
pub struct Http01Tokens {
    map: RwLock<HashMap<String, String>>,
}

impl Http01Tokens {
    /// The key authorization for `token`, while its challenge is pending.
    pub fn get(&self, token: &str) -> Option<String> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    fn put(&self, token: String, key_authorization: String) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token, key_authorization);
    }

    fn remove(&self, token: &str) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }
}

/// Puts DNS-01 TXT records into the served zones (and takes them out again), returning once
/// they are served — by this server and by the zone's secondaries.
pub trait Dns01Publisher: Send + Sync {
    /// Serves exactly `records` (owner name, TXT value) as challenge records from now on; an
    /// empty list withdraws them.
    fn publish(
        &self,
        records: Vec<(String, String)>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>>;
}

/// An ACME account at one CA, ready to order certificates.
pub struct AcmeIssuer {
    account: Account,
    store: IssuedStore,
    tokens: Arc<Http01Tokens>,
    dns01: Option<Arc<dyn Dns01Publisher>>,
}

/// How long an order may take to validate and issue.
const ORDER_TIMEOUT: Duration = Duration::from_secs(90);

impl AcmeIssuer {
    /// The account of `settings` at its CA: the stored one when it belongs to that directory,
    /// else a new one (stored in `store`).
    pub async fn connect(
        settings: &AcmeSettings,
        store: IssuedStore,
        tokens: Arc<Http01Tokens>,
    ) -> Result<AcmeIssuer, AcmeError> {
        let builder = || match &settings.server_ca {
            Some(ca) => Account::builder_with_root(ca),
            None => Account::builder(),
        };
        if let Some(json) = store.load_account()
            && let Ok(stored) = serde_json::from_str::<StoredAccount>(&json)
            && stored.directory == settings.directory
        {
            let account = builder()?.from_credentials(stored.credentials).await?;
            return Ok(AcmeIssuer {
                account,
                store,
                tokens,
                dns01: None,
            });
        }
        let contact: Vec<&str> = settings.contact.iter().map(String::as_str).collect();
        let eab = settings
            .eab
            .as_ref()
            .map(|(kid, key)| ExternalAccountKey::new(kid.clone(), key));
        let (account, credentials) = builder()?
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                settings.directory.clone(),
                eab.as_ref(),
            )
            .await?;
        let stored = StoredAccount {
            directory: settings.directory.clone(),
            credentials,
        };
        let json = serde_json::to_string_pretty(&stored)
            .map_err(|e| AcmeError::Protocol(format!("cannot store the account: {e}")))?;
        store.save_account(&json)?;
        tracing::info!("ACME account created at {}", settings.directory);
        Ok(AcmeIssuer {
            account,
            store,
            tokens,
            dns01: None,
        })
    }

    /// Proves names with DNS-01 records put into our zones by `publisher`, instead of HTTP-01.
    pub fn with_dns01(mut self, publisher: Arc<dyn Dns01Publisher>) -> AcmeIssuer {
        self.dns01 = Some(publisher);
        self
    }

    /// Orders a certificate for `names` (the HTTPS names of `domain`), answers the HTTP-01
    /// challenges, and stores the result.
    pub async fn issue(&self, domain: &str, names: &[String]) -> Result<Issued, AcmeError> {
        let identifiers: Vec<Identifier> =
            names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut order = self.account.new_order(&NewOrder::new(&identifiers)).await?;
        let mut tokens = Vec::new();
        let result = match &self.dns01 {
            None => self.validate(&mut order, domain, &mut tokens).await,
            Some(p) => {
                let r = self.validate_dns01(&mut order, domain, p.as_ref()).await;
                // Withdrawn whatever happened: a stale challenge record helps nobody.
                if let Err(e) = p.publish(Vec::new()).await {
                    tracing::warn!("ACME: cannot withdraw the DNS-01 records: {e}");
                }
                r
            }
        };
        for t in &tokens {
            self.tokens.remove(t);
        }
        result?;
        // The key is made here, never sent anywhere: only its CSR.
        let key = rcgen::KeyPair::generate()
            .map_err(|e| AcmeError::Protocol(format!("cannot make a key: {e}")))?;
        let csr = rcgen::CertificateParams::new(names.to_vec())
            .and_then(|p| p.serialize_request(&key))
            .map_err(|e| AcmeError::Protocol(format!("cannot make the CSR: {e}")))?;
        order.finalize_csr(csr.der()).await?;
        let chain = order
            .poll_certificate(&RetryPolicy::new().timeout(ORDER_TIMEOUT))
            .await?;
        let issued =
            Issued::new(domain, names.to_vec(), chain, key.serialize_pem()).map_err(|reason| {
                AcmeError::Order {
                    domain: domain.to_owned(),
                    reason,
                }
            })?;
        self.store.save(&issued)?;
        Ok(issued)
    }

    /// Publishes every pending authorization's DNS-01 record, then tells the CA, then waits for
    /// the order to be ready.
    async fn validate_dns01(
        &self,
        order: &mut instant_acme::Order,
        domain: &str,
        publisher: &dyn Dns01Publisher,
    ) -> Result<(), AcmeError> {
        let mut records = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            if authz.status != AuthorizationStatus::Pending {
                continue;
            }
            let identifier = authz.identifier().identifier.clone();
            let Identifier::Dns(name) = identifier else {
                continue;
            };
            let challenge =
                authz
                    .challenge(ChallengeType::Dns01)
                    .ok_or_else(|| AcmeError::Order {
                        domain: domain.to_owned(),
                        reason: "the CA offers no dns-01 challenge".into(),
                    })?;
            records.push((
                format!("_acme-challenge.{name}"),
                challenge.key_authorization().dns_value(),
            ));
        }
        publisher
            .publish(records)
            .await
            .map_err(|reason| AcmeError::Order {
                domain: domain.to_owned(),
                reason: format!("cannot publish the DNS-01 records: {reason}"),
            })?;
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            if authz.status != AuthorizationStatus::Pending {
                continue;
            }
            if let Some(mut c) = authz.challenge(ChallengeType::Dns01) {
                c.set_ready().await?;
            }
        }
        self.wait_ready(order, domain).await
    }

    /// Sets every pending authorization's HTTP-01 challenge up and waits for the order to be ready.
    async fn validate(
        &self,
        order: &mut instant_acme::Order,
        domain: &str,
        tokens: &mut Vec<String>,
    ) -> Result<(), AcmeError> {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            match authz.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(AcmeError::Order {
                        domain: domain.to_owned(),
                        reason: format!("authorization is {other:?}"),
                    });
                }
            }
            let mut challenge =
                authz
                    .challenge(ChallengeType::Http01)
                    .ok_or_else(|| AcmeError::Order {
                        domain: domain.to_owned(),
                        reason: "the CA offers no http-01 challenge".into(),
                    })?;
            let token = challenge.token.clone();
            self.tokens.put(
                token.clone(),
                challenge.key_authorization().as_str().to_owned(),
            );
            tokens.push(token);
            challenge.set_ready().await?;
        }
        self.wait_ready(order, domain).await
    }

    /// Waits until the order is ready; otherwise the CA's reasons, as an error.
    async fn wait_ready(
        &self,
        order: &mut instant_acme::Order,
        domain: &str,
    ) -> Result<(), AcmeError> {
        let status = order
            .poll_ready(&RetryPolicy::new().timeout(ORDER_TIMEOUT))
            .await?;
        if status != OrderStatus::Ready {
            // The CA's reasons are in the authorizations' challenges.
            let mut reasons = Vec::new();
            let mut authorizations = order.authorizations();
            while let Some(Ok(authz)) = authorizations.next().await {
                for c in &authz.challenges {
                    if let Some(e) = &c.error {
                        reasons.push(format!("{}: {e}", authz.identifier()));
                    }
                }
            }
            return Err(AcmeError::Order {
                domain: domain.to_owned(),
                reason: if reasons.is_empty() {
                    format!("the order is {status:?}")
                } else {
                    reasons.join("; ")
                },
            });
        }
        Ok(())
    }
}

/// The account file: the credentials and the directory they belong to.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}
