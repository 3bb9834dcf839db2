require "imap4flags";
addflag "work";
if hasflag "WORK" { discard; }
