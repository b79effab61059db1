//! Moving a tenant out: its resources and memberships read in pages of [`CHUNK`] rows by key
//! order, inside the job's one snapshot, so an export of any size holds bounded memory and the
//! caller's callback never runs while a statement is open.

use postgres::types::Json;
use scim_store::contract::Exported;
use scim_store::{Error, TenantKey};
use serde_json::{Map, Value};

use crate::resources::kind_of;
use crate::session::{Session, col};

/// Rows read per statement.
const CHUNK: i64 = 1000;

impl Session<'_> {
    pub(crate) fn export_resources(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(Exported) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut after = 0i64;
        loop {
            let rows = self.rows(
                "SELECT seq, kind, id, name_key, external_id, email_key, created, modified, version, attrs
                   FROM resources WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&tenant.0, &after, &CHUNK],
            )?;
            let mut batch = Vec::with_capacity(rows.len());
            for row in &rows {
                after = col(row, 0)?;
                let Json(attrs): Json<Map<String, Value>> = col(row, 9)?;
                batch.push(Exported {
                    kind: kind_of(col(row, 1)?),
                    id: col(row, 2)?,
                    name_key: col(row, 3)?,
                    external_id: col(row, 4)?,
                    email_key: col(row, 5)?,
                    created: col(row, 6)?,
                    modified: col(row, 7)?,
                    version: col(row, 8)?,
                    attrs,
                });
            }
            for resource in batch {
                each(resource)?;
            }
            if i64::try_from(rows.len()).unwrap_or(i64::MAX) < CHUNK {
                return Ok(());
            }
        }
    }

    pub(crate) fn export_members(
        &self,
        tenant: TenantKey,
        each: &mut dyn FnMut(&str, &str) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (mut group, mut member) = (0i64, 0i64);
        loop {
            let rows = self.rows(
                "SELECT m.group_seq, m.member_seq, g.id, u.id FROM members m
                   JOIN resources g ON g.seq = m.group_seq JOIN resources u ON u.seq = m.member_seq
                  WHERE g.tenant = $1 AND (m.group_seq, m.member_seq) > ($2, $3)
                  ORDER BY m.group_seq, m.member_seq LIMIT $4",
                &[&tenant.0, &group, &member, &CHUNK],
            )?;
            for row in &rows {
                (group, member) = (col(row, 0)?, col(row, 1)?);
                let (g, m): (String, String) = (col(row, 2)?, col(row, 3)?);
                each(&g, &m)?;
            }
            if i64::try_from(rows.len()).unwrap_or(i64::MAX) < CHUNK {
                return Ok(());
            }
        }
    }
}
