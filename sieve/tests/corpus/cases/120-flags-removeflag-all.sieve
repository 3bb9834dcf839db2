require "imap4flags";
setflag "x";
removeflag "x";
keep;
