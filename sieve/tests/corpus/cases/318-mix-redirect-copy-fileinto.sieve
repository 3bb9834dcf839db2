require ["copy", "fileinto", "imap4flags"];
redirect :copy "c@example.org";
fileinto :flags "\\Seen" "Done";
