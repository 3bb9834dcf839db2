require "imap4flags";
addflag "a";
keep;
addflag "b";
