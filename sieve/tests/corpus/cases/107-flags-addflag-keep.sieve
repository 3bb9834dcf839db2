require "imap4flags";
addflag "\\Seen";
keep;
