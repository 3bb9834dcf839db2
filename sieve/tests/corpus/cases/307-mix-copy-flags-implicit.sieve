require ["fileinto", "copy", "imap4flags"];
addflag "\\Seen";
fileinto :copy "Archive";
removeflag "\\Seen";
addflag "later";
