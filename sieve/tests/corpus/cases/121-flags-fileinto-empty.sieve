require ["imap4flags", "fileinto"];
addflag "z";
fileinto :flags "" "Work";
