require "imap4flags";
if hasflag "work" { discard; }
