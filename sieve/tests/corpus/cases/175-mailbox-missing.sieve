require "mailbox";
if mailboxexists "Missing" { discard; } else { keep; }
