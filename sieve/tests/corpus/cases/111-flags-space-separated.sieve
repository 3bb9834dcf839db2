require "imap4flags";
addflag "one two";
addflag "TWO three";
