require "imap4flags";
addflag ["a", "b", "c"];
removeflag "b";
