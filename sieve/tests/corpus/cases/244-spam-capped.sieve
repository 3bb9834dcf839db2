# message: list.eml
require ["spamtest", "fileinto"];
if spamtest :is "10" { fileinto "Junk"; }
