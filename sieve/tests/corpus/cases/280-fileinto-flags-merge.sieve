require ["fileinto", "imap4flags"];
fileinto :flags "a" "X";
fileinto :flags "b" "X";
