//! The client side of SMTP and LMTP: what mailroom-mta uses to hand mail to an MDA over LMTP
//! and, later, to remote MX hosts over SMTP.
