//! MAIL and RCPT parameters: smtp-proto parses every registered ESMTP parameter; a client may
//! only use those of extensions we advertised (RFC 5321 §4.1.1.11: 555 otherwise).

use smtp_proto::{
    MAIL_BODY_BINARYMIME, MAIL_CONPERM, MAIL_REQUIRETLS, MAIL_RET_FULL, MAIL_RET_HDRS, MAIL_SMTPUTF8,
    MailFrom, RCPT_CONNEG, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS,
    RCPT_RRVS_CONTINUE, RCPT_RRVS_REJECT, RcptTo,
};

use super::Session;
use crate::reply::Reply;

impl Session {
    /// RET/ENVID need DSN, SMTPUTF8 needs SMTPUTF8, AUTH= needs AUTH, REQUIRETLS needs it
    /// offered (under TLS); the rest we never offer.
    pub(super) fn check_mail_params(&self, from: &MailFrom<String>) -> Result<(), Reply> {
        let dsn = from.flags & (MAIL_RET_FULL | MAIL_RET_HDRS) != 0 || from.env_id.is_some();
        refuse_if(dsn && !self.cfg.dsn, "RET/ENVID")?;
        refuse_if(from.flags & MAIL_SMTPUTF8 != 0 && !self.cfg.smtputf8, "SMTPUTF8")?;
        refuse_if(from.auth.is_some() && !self.auth_offered(), "AUTH")?;
        refuse_if(from.flags & MAIL_BODY_BINARYMIME != 0, "BODY=BINARYMIME")?;
        refuse_if(
            from.flags & MAIL_REQUIRETLS != 0 && !(self.cfg.requiretls && self.tls_active),
            "REQUIRETLS",
        )?;
        refuse_if(from.flags & MAIL_CONPERM != 0, "CONPERM")?;
        refuse_if(from.by != 0 || from.hold_for != 0 || from.hold_until != 0, "BY/HOLDFOR/HOLDUNTIL")?;
        refuse_if(from.mt_priority != 0 || from.mtrk.is_some(), "MT-PRIORITY/MTRK")?;
        refuse_if(from.trans_id.is_some() || from.solicit.is_some(), "TRANSID/SOLICIT")
    }

    /// NOTIFY/ORCPT need DSN; RRVS and CONNEG we never offer.
    pub(super) fn check_rcpt_params(&self, to: &RcptTo<String>) -> Result<(), Reply> {
        let notify = RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY | RCPT_NOTIFY_NEVER;
        let dsn = to.flags & notify != 0 || to.orcpt.is_some();
        refuse_if(dsn && !self.cfg.dsn, "NOTIFY/ORCPT")?;
        let rrvs = to.flags & (RCPT_RRVS_REJECT | RCPT_RRVS_CONTINUE) != 0 || to.rrvs != 0;
        refuse_if(rrvs || to.flags & RCPT_CONNEG != 0, "RRVS/CONNEG")
    }
}

fn refuse_if(cond: bool, what: &str) -> Result<(), Reply> {
    if cond { Err(Reply::new(555, "5.5.4", format!("Unsupported parameter {what}"))) } else { Ok(()) }
}
