require ["imap4flags", "fileinto"];
fileinto :flags ["\\Seen", "$label1"] "Work";
