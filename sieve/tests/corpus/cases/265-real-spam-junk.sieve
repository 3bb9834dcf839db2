# message: spam.eml
require ["fileinto", "imap4flags"];
if anyof (header :contains "x-spam-flag" "YES", header :contains "subject" "FREE money") {
  setflag "\\Seen"; fileinto "Junk"; stop;
}
keep;
