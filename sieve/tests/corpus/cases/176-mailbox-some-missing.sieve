require "mailbox";
if mailboxexists ["Existing", "Missing"] { discard; } else { keep; }
