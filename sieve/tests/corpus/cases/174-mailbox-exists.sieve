require "mailbox";
if mailboxexists "Existing" { discard; }
