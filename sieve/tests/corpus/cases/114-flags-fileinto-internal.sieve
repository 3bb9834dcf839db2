require ["imap4flags", "fileinto"];
setflag "\\Seen";
fileinto "Work";
removeflag "\\Seen";
keep;
