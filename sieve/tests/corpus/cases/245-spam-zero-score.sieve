# message: attachment.eml
require ["spamtest", "fileinto"];
if spamtest :is "1" { fileinto "Clean"; }
