//! Minting a tenant's provisioning token: the one place a token is signed and its id recorded,
//! for the command line and the admin API alike. The token itself is returned to be shown once
//! and is kept nowhere.

use scim_auth::{Issued, Signer};
use scim_store::{Store, TokenRecord};

use crate::error::{ApiError, Thing, missing};

/// Signs a token for `tenant_id` with the current key of `signer`, valid `ttl_secs` from now, and
/// records its id (the store refuses a third token of a tenant, atomically on its writer).
pub fn mint<E>(store: &Store, signer: &Signer, tenant_id: &str, ttl_secs: i64) -> Result<(Issued, TokenRecord), E>
where
    E: From<ApiError> + From<scim_auth::Error>,
{
    let now = scim_schema::time::now_millis() / 1000;
    let issued = signer.issue(tenant_id, now, ttl_secs)?;
    let record = TokenRecord {
        id: issued.token_id.clone(),
        tenant_id: tenant_id.to_owned(),
        created: issued.created,
        expires: issued.expires,
    };
    store.add_token(&record).map_err(missing(Thing::Tenant))?;
    Ok((issued, record))
}
