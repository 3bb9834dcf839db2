require ["mailbox", "variables"];
set "m" "Existing";
if mailboxexists "${m}" { discard; }
