require "imap4flags";
addflag "ignored";
keep :flags "\\Answered";
